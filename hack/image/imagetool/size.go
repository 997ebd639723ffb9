package main

import (
	"errors"
	"fmt"

	"github.com/openblock-csi/openblock-csi/internal/ociarchive"
)

// sizeCmd prints the uncompressed size of the one image in an OCI archive.
func sizeCmd(args []string) error {
	img, err := onlyImage("size", args)
	if err != nil {
		return err
	}
	n, err := img.UncompressedSize()
	if err != nil {
		return err
	}
	fmt.Println(n)
	return nil
}

// digestCmd prints the manifest digest of the one image in an OCI archive:
// the image's identity, what two reproducible builds must agree on.
func digestCmd(args []string) error {
	img, err := onlyImage("digest", args)
	if err != nil {
		return err
	}
	fmt.Println(img.Digest)
	return nil
}

func onlyImage(cmd string, args []string) (*ociarchive.Image, error) {
	if len(args) != 1 {
		return nil, fmt.Errorf("usage: imagetool %s ARCHIVE", cmd)
	}
	a, err := ociarchive.Open(args[0])
	if err != nil {
		return nil, err
	}
	img, err := a.Only()
	if err != nil {
		return nil, errors.Join(fmt.Errorf("%s", args[0]), err)
	}
	return img, nil
}
