// Command imagetool does the two things the image build needs that no
// Debian tool does offline and for any architecture:
//
//	imagetool rootfs -sysroot DIR -out DIR -tools FILE [-file PATH]...
//	    copies programs and everything they load out of unpacked packages
//	imagetool size ARCHIVE
//	    prints an OCI archive's uncompressed size in bytes
//	imagetool digest ARCHIVE
//	    prints its image's manifest digest
package main

import (
	"fmt"
	"os"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: imagetool rootfs|size|digest ...")
		os.Exit(2)
	}
	var err error
	switch os.Args[1] {
	case "rootfs":
		err = rootfsCmd(os.Args[2:])
	case "size":
		err = sizeCmd(os.Args[2:])
	case "digest":
		err = digestCmd(os.Args[2:])
	default:
		err = fmt.Errorf("unknown command %q", os.Args[1])
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "imagetool:", err)
		os.Exit(1)
	}
}
