// The image builder of the end-to-end cluster: docker-archive tarballs from
// files on this machine, for `ctr images import` (there is no image engine).
// Apart from hack/e2e-tools so its dependencies never move Kubernetes'.
module github.com/openblock-csi/openblock-csi/hack/e2e-tools/image

go 1.25.0

require github.com/google/go-containerregistry v0.22.1

require (
	github.com/klauspost/compress v1.19.2 // indirect
	github.com/opencontainers/go-digest v1.0.0 // indirect
	github.com/opencontainers/image-spec v1.1.1 // indirect
)
