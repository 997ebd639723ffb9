// Package ociarchive reads the OCI archive `make image` writes (an OCI image
// layout in one tar, as `buildah push … oci-archive:` makes it): the image's
// config, its labels, its uncompressed size, and its file tree. It exists so
// that the image test and the build script judge the image that was built,
// not its recipe.
package ociarchive

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"strings"
)

// Archive is an OCI archive read into memory (images here are tens of MB).
type Archive struct {
	blobs map[string][]byte // "sha256:…" → content
	index index
}

type descriptor struct {
	MediaType   string            `json:"mediaType"`
	Digest      string            `json:"digest"`
	Size        int64             `json:"size"`
	Annotations map[string]string `json:"annotations,omitempty"`
	Platform    *struct {
		Architecture string `json:"architecture"`
		OS           string `json:"os"`
	} `json:"platform,omitempty"`
}

type index struct {
	Manifests []descriptor `json:"manifests"`
}

type manifest struct {
	Config descriptor   `json:"config"`
	Layers []descriptor `json:"layers"`
}

// Config is the part of the image config the checks read.
type Config struct {
	Architecture string `json:"architecture"`
	OS           string `json:"os"`
	Created      string `json:"created"`
	Config       struct {
		User       string            `json:"User"`
		Entrypoint []string          `json:"Entrypoint"`
		Labels     map[string]string `json:"Labels"`
	} `json:"config"`
}

// Image is one image of the archive.
type Image struct {
	a        *Archive
	Digest   string // the manifest's digest: the image's identity
	RefName  string // org.opencontainers.image.ref.name, if any
	Config   Config
	manifest manifest
}

// Open reads the archive at file.
func Open(file string) (*Archive, error) {
	f, err := os.Open(file)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	a := &Archive{blobs: map[string][]byte{}}
	tr := tar.NewReader(f)
	var indexJSON []byte
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w", file, err)
		}
		name := path.Clean(strings.TrimPrefix(h.Name, "./"))
		if h.Typeflag != tar.TypeReg {
			continue
		}
		b, err := io.ReadAll(tr)
		if err != nil {
			return nil, err
		}
		switch {
		case name == "index.json":
			indexJSON = b
		case strings.HasPrefix(name, "blobs/"):
			parts := strings.Split(name, "/")
			if len(parts) == 3 {
				a.blobs[parts[1]+":"+parts[2]] = b
			}
		}
	}
	if indexJSON == nil {
		return nil, fmt.Errorf("%s: no index.json: not an OCI archive", file)
	}
	if err := json.Unmarshal(indexJSON, &a.index); err != nil {
		return nil, fmt.Errorf("%s: index.json: %w", file, err)
	}
	return a, nil
}

// Images lists the archive's images, looking through nested indexes.
func (a *Archive) Images() ([]*Image, error) {
	var out []*Image
	var walk func(ds []descriptor, depth int) error
	walk = func(ds []descriptor, depth int) error {
		for _, d := range ds {
			b, ok := a.blobs[d.Digest]
			if !ok {
				return fmt.Errorf("blob %s missing", d.Digest)
			}
			if strings.HasSuffix(d.MediaType, "image.index.v1+json") || strings.HasSuffix(d.MediaType, "manifest.list.v2+json") {
				var ix index
				if err := json.Unmarshal(b, &ix); err != nil || depth > 3 {
					return fmt.Errorf("index %s: %v", d.Digest, err)
				}
				if err := walk(ix.Manifests, depth+1); err != nil {
					return err
				}
				continue
			}
			img := &Image{a: a, Digest: d.Digest, RefName: d.Annotations["org.opencontainers.image.ref.name"]}
			if err := json.Unmarshal(b, &img.manifest); err != nil {
				return fmt.Errorf("manifest %s: %w", d.Digest, err)
			}
			cb, ok := a.blobs[img.manifest.Config.Digest]
			if !ok {
				return fmt.Errorf("config %s missing", img.manifest.Config.Digest)
			}
			if err := json.Unmarshal(cb, &img.Config); err != nil {
				return fmt.Errorf("config %s: %w", img.manifest.Config.Digest, err)
			}
			out = append(out, img)
		}
		return nil
	}
	if err := walk(a.index.Manifests, 0); err != nil {
		return nil, err
	}
	if len(out) == 0 {
		return nil, errors.New("the archive holds no image")
	}
	return out, nil
}

// Only returns the archive's one image, or an error when it holds another
// number.
func (a *Archive) Only() (*Image, error) {
	imgs, err := a.Images()
	if err != nil {
		return nil, err
	}
	if len(imgs) != 1 {
		return nil, fmt.Errorf("the archive holds %d images, not one", len(imgs))
	}
	return imgs[0], nil
}

// layer opens layer i's tar stream, uncompressed.
func (img *Image) layer(i int) (io.Reader, error) {
	d := img.manifest.Layers[i]
	b, ok := img.a.blobs[d.Digest]
	if !ok {
		return nil, fmt.Errorf("layer %s missing", d.Digest)
	}
	switch {
	case strings.HasSuffix(d.MediaType, "+gzip") || strings.HasSuffix(d.MediaType, ".gzip"):
		return gzip.NewReader(bytes.NewReader(b))
	case strings.HasSuffix(d.MediaType, "+zstd"):
		return nil, fmt.Errorf("layer %s: zstd layers are not read here", d.Digest)
	}
	return bytes.NewReader(b), nil
}

// UncompressedSize is the sum of the layers' tar streams, what a runtime
// unpacks onto a node's disk.
func (img *Image) UncompressedSize() (int64, error) {
	var total int64
	for i := range img.manifest.Layers {
		r, err := img.layer(i)
		if err != nil {
			return 0, err
		}
		n, err := io.Copy(io.Discard, r)
		if err != nil {
			return 0, err
		}
		total += n
	}
	return total, nil
}

// Unpack writes the image's file tree under dir, applying the layers in
// order (whiteouts included). dir must be empty or absent.
func (img *Image) Unpack(dir string) error {
	for i := range img.manifest.Layers {
		r, err := img.layer(i)
		if err != nil {
			return err
		}
		if err := unpackLayer(tar.NewReader(r), dir); err != nil {
			return fmt.Errorf("layer %d: %w", i, err)
		}
	}
	return nil
}

func unpackLayer(tr *tar.Reader, dir string) error {
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		name := path.Clean("/" + h.Name)
		if name == "/" {
			continue
		}
		dst := filepath.Join(dir, name)
		base := path.Base(name)
		if strings.HasPrefix(base, ".wh.") {
			if base == ".wh..wh..opq" {
				entries, _ := os.ReadDir(filepath.Dir(dst))
				for _, e := range entries {
					os.RemoveAll(filepath.Join(filepath.Dir(dst), e.Name()))
				}
			} else {
				os.RemoveAll(filepath.Join(filepath.Dir(dst), strings.TrimPrefix(base, ".wh.")))
			}
			continue
		}
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			return err
		}
		mode := os.FileMode(h.Mode).Perm() | os.FileMode(h.Mode)&(os.ModeSetuid|os.ModeSetgid|os.ModeSticky)
		switch h.Typeflag {
		case tar.TypeDir:
			if err := os.MkdirAll(dst, 0o755); err != nil {
				return err
			}
			if err := os.Chmod(dst, mode); err != nil {
				return err
			}
		case tar.TypeReg:
			os.RemoveAll(dst)
			f, err := os.OpenFile(dst, os.O_CREATE|os.O_WRONLY|os.O_EXCL, 0o600)
			if err != nil {
				return err
			}
			if _, err := io.Copy(f, tr); err != nil {
				f.Close()
				return err
			}
			if err := f.Close(); err != nil {
				return err
			}
			if err := os.Chmod(dst, mode); err != nil {
				return err
			}
		case tar.TypeSymlink:
			os.RemoveAll(dst)
			if err := os.Symlink(h.Linkname, dst); err != nil {
				return err
			}
		case tar.TypeLink:
			os.RemoveAll(dst)
			if err := os.Link(filepath.Join(dir, path.Clean("/"+h.Linkname)), dst); err != nil {
				return err
			}
		default:
			// Devices and fifos have no place in this image.
			return fmt.Errorf("%s: unexpected entry type %q", name, h.Typeflag)
		}
	}
}
