// Package mountpath reads paths as /proc/*/mountinfo writes them. It is a
// leaf so that pkg/node and its test helpers can share it.
package mountpath

import (
	"strconv"
	"strings"
)

// Unescape undoes the kernel's octal escapes in mountinfo paths (\040 for
// a space, \011 tab, \012 newline, \134 backslash), which mount-utils'
// parser leaves in place.
func Unescape(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			if n, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(n))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}
