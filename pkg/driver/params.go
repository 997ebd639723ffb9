package driver

import (
	"strconv"
	"strings"

	"github.com/openblock-csi/openblock-csi/pkg/node"
)

// StorageClass parameters.
const (
	ParamType         = "type"
	ParamAvailability = "availability"
	ParamFSType       = "csi.storage.k8s.io/fstype"
	ParamMkfsOptions  = "mkfsOptions"
	ParamEncrypted    = "encrypted"
	ParamPVCName      = "csi.storage.k8s.io/pvc/name"
	ParamPVCNamespace = "csi.storage.k8s.io/pvc/namespace"
	ParamPVName       = "csi.storage.k8s.io/pv/name"

	// VolumeSnapshotClass parameters.
	ParamSnapshotType            = "type"
	ParamVolumeSnapshotName      = "csi.storage.k8s.io/volumesnapshot/name"
	ParamVolumeSnapshotNamespace = "csi.storage.k8s.io/volumesnapshot/namespace"
	ParamVolumeSnapshotContent   = "csi.storage.k8s.io/volumesnapshotcontent/name"
)

// Keys the driver writes.
const (
	// MetaRequestName records the CSI request name on the cloud resource,
	// so a retry finds it even where the cloud shortens names.
	MetaRequestName = "block.csi.openblock.io/request-name"
	// MetaSource records what a volume was created from ("snapshot:<id>",
	// "volume:<id>", "backup:<id>"), for the AlreadyExists check.
	MetaSource = "block.csi.openblock.io/source"

	// Volume context keys (CreateVolume → NodeStage).
	CtxFSType      = "fsType"
	CtxMkfsOptions = "mkfsOptions"

	// Publish context keys (ControllerPublish → NodeStage/NodePublish).
	PubSerial       = "serial"
	PubSerialLength = "serialLength"
	PubSizeBytes    = "sizeBytes"
	// PubReadOnly: ControllerPublish was asked for a read-only volume; the
	// node mounts it read-only whatever NodePublish asks.
	PubReadOnly = "readOnly"

	// MetaReadOnlyPrefix + node id marks a node the volume is published to
	// read-only ("true"), so a publish with the other mode is told apart
	// from a retry. Only read-only publishes write it.
	MetaReadOnlyPrefix = "block.csi.openblock.io/readonly-"

	// BackupPrefix marks CSI snapshot ids that are cloud backups.
	BackupPrefix = "backup:"
)

// volumeParams is a parsed CreateVolume parameter map.
type volumeParams struct {
	volumeType string
	zone       string
	fsType     string
	mkfs       string
	// encrypted: the volume must report itself encrypted.
	encrypted bool
	// computeZone is the compute zone the volume is for (from topology),
	// reported back as its topology.
	computeZone string
	metadata    map[string]string
}

func parseVolumeParams(p map[string]string) (volumeParams, error) {
	out := volumeParams{metadata: map[string]string{}}
	for k, v := range p {
		switch k {
		case ParamType:
			out.volumeType = v
		case ParamAvailability:
			out.zone = v
		case ParamFSType:
			fs, err := node.NormalizeFSType(v)
			if err != nil {
				return out, invalid("parameter %s: %v", k, err)
			}
			out.fsType = fs
		case ParamMkfsOptions:
			if _, err := splitArgs(v); err != nil {
				return out, invalid("parameter %s: %v", k, err)
			}
			out.mkfs = v
		case ParamEncrypted:
			b, err := strconv.ParseBool(v)
			if err != nil {
				return out, invalid("parameter %s: %q is not true or false", k, v)
			}
			out.encrypted = b
		case ParamPVCName, ParamPVCNamespace, ParamPVName:
			out.metadata[k] = v
		default:
			return out, invalid("unknown parameter %q (known: %s)", k, strings.Join([]string{
				ParamType, ParamAvailability, ParamFSType, ParamMkfsOptions, ParamEncrypted, ParamPVCName, ParamPVCNamespace, ParamPVName}, ", "))
		}
	}
	return out, nil
}

// volumeContext is what NodeStage needs from the StorageClass.
func (p volumeParams) volumeContext() map[string]string {
	ctx := map[string]string{}
	if p.fsType != "" {
		ctx[CtxFSType] = p.fsType
	}
	if p.mkfs != "" {
		ctx[CtxMkfsOptions] = p.mkfs
	}
	if len(ctx) == 0 {
		return nil
	}
	return ctx
}

type snapshotParams struct {
	backup   bool
	metadata map[string]string
}

func parseSnapshotParams(p map[string]string) (snapshotParams, error) {
	out := snapshotParams{metadata: map[string]string{}}
	for k, v := range p {
		switch k {
		case ParamSnapshotType:
			switch strings.ToLower(v) {
			case "", "snapshot":
			case "backup":
				out.backup = true
			default:
				return out, invalid("parameter type: %q is neither snapshot nor backup", v)
			}
		case ParamVolumeSnapshotName, ParamVolumeSnapshotNamespace, ParamVolumeSnapshotContent:
			out.metadata[k] = v
		default:
			return out, invalid("unknown snapshot parameter %q (known: type, %s, %s, %s)", k,
				ParamVolumeSnapshotName, ParamVolumeSnapshotNamespace, ParamVolumeSnapshotContent)
		}
	}
	return out, nil
}

// splitArgs splits mkfs options into argv entries the way a shell would
// split plain words and quoted strings, without running a shell: no
// expansion, no command substitution, nothing executed.
func splitArgs(s string) ([]string, error) {
	var args []string
	var cur strings.Builder
	inWord := false
	var quote rune
	escaped := false
	for _, r := range s {
		switch {
		case r == 0:
			// Not even quoted: an argv entry ends at NUL.
			return nil, errNUL
		case escaped:
			cur.WriteRune(r)
			escaped = false
		case r == '\\' && quote != '\'':
			escaped, inWord = true, true
		case quote != 0:
			if r == quote {
				quote = 0
			} else {
				cur.WriteRune(r)
			}
		case r == '\'' || r == '"':
			quote, inWord = r, true
		case r == ' ' || r == '\t' || r == '\n':
			if inWord {
				args = append(args, cur.String())
				cur.Reset()
				inWord = false
			}
		default:
			cur.WriteRune(r)
			inWord = true
		}
	}
	if quote != 0 || escaped {
		return nil, errUnterminated
	}
	if inWord {
		args = append(args, cur.String())
	}
	for _, a := range args {
		if a == "" {
			return nil, errEmptyArg
		}
	}
	return args, nil
}

type argError string

func (e argError) Error() string { return string(e) }

const (
	errNUL          = argError("NUL byte in options")
	errUnterminated = argError("unterminated quote or escape")
	errEmptyArg     = argError("empty option")
)
