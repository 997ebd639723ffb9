package registrar

import (
	"fmt"

	"google.golang.org/protobuf/encoding/protowire"
)

// The kubelet's plugin registration API (k8s.io/kubelet/pkg/apis/
// pluginregistration/v1, proto package "pluginregistration"): four small
// proto3 messages, encoded here with protowire so the driver does not depend
// on the kubelet module and its Kubernetes tree.

// PluginType is what the kubelet expects from a CSI driver.
const PluginType = "CSIPlugin"

// serviceName is the gRPC service the kubelet calls.
const serviceName = "pluginregistration.Registration"

// InfoRequest is GetInfo's empty request.
type InfoRequest struct{}

// PluginInfo answers GetInfo.
type PluginInfo struct {
	Type              string   // 1
	Name              string   // 2
	Endpoint          string   // 3
	SupportedVersions []string // 4
}

// RegistrationStatus is what the kubelet reports after GetInfo.
type RegistrationStatus struct {
	PluginRegistered bool   // 1
	Error            string // 2
}

// RegistrationStatusResponse is NotifyRegistrationStatus's empty answer.
type RegistrationStatusResponse struct{}

// message is implemented by the four types above.
type message interface {
	marshal() []byte
	unmarshal([]byte) error
}

func (*InfoRequest) marshal() []byte                { return nil }
func (*InfoRequest) unmarshal(b []byte) error       { return skipAll(b) }
func (*RegistrationStatusResponse) marshal() []byte { return nil }
func (*RegistrationStatusResponse) unmarshal(b []byte) error {
	return skipAll(b)
}

func (m *PluginInfo) marshal() []byte {
	var b []byte
	b = appendString(b, 1, m.Type)
	b = appendString(b, 2, m.Name)
	b = appendString(b, 3, m.Endpoint)
	for _, v := range m.SupportedVersions {
		// Repeated strings are written even when empty.
		b = protowire.AppendTag(b, 4, protowire.BytesType)
		b = protowire.AppendString(b, v)
	}
	return b
}

func (m *PluginInfo) unmarshal(b []byte) error {
	*m = PluginInfo{}
	return walk(b, func(num protowire.Number, typ protowire.Type, v []byte) error {
		if typ != protowire.BytesType {
			return nil
		}
		switch num {
		case 1:
			m.Type = string(v)
		case 2:
			m.Name = string(v)
		case 3:
			m.Endpoint = string(v)
		case 4:
			m.SupportedVersions = append(m.SupportedVersions, string(v))
		}
		return nil
	})
}

func (m *RegistrationStatus) marshal() []byte {
	var b []byte
	if m.PluginRegistered {
		b = protowire.AppendTag(b, 1, protowire.VarintType)
		b = protowire.AppendVarint(b, 1)
	}
	return appendString(b, 2, m.Error)
}

func (m *RegistrationStatus) unmarshal(b []byte) error {
	*m = RegistrationStatus{}
	return walk(b, func(num protowire.Number, typ protowire.Type, v []byte) error {
		switch {
		case num == 1 && typ == protowire.VarintType:
			x, n := protowire.ConsumeVarint(v)
			if n < 0 {
				return protowire.ParseError(n)
			}
			m.PluginRegistered = x != 0
		case num == 2 && typ == protowire.BytesType:
			m.Error = string(v)
		}
		return nil
	})
}

// appendString writes a proto3 string field; the empty string is the
// default and is not written.
func appendString(b []byte, num protowire.Number, s string) []byte {
	if s == "" {
		return b
	}
	b = protowire.AppendTag(b, num, protowire.BytesType)
	return protowire.AppendString(b, s)
}

// walk calls fn for every field of b: for length-delimited fields v is the
// payload, for the others the raw value. Unknown fields are skipped, as
// proto3 requires.
func walk(b []byte, fn func(protowire.Number, protowire.Type, []byte) error) error {
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return protowire.ParseError(n)
		}
		b = b[n:]
		var v []byte
		if typ == protowire.BytesType {
			payload, m := protowire.ConsumeBytes(b)
			if m < 0 {
				return protowire.ParseError(m)
			}
			v, n = payload, m
		} else {
			n = protowire.ConsumeFieldValue(num, typ, b)
			if n < 0 {
				return protowire.ParseError(n)
			}
			v = b[:n]
		}
		if err := fn(num, typ, v); err != nil {
			return err
		}
		b = b[n:]
	}
	return nil
}

func skipAll(b []byte) error {
	return walk(b, func(protowire.Number, protowire.Type, []byte) error { return nil })
}

// codec is the gRPC codec of the registration server: it speaks the proto
// wire format for the messages above only.
type codec struct{}

func (codec) Name() string { return "proto" }

func (codec) Marshal(v any) ([]byte, error) {
	m, ok := v.(message)
	if !ok {
		return nil, fmt.Errorf("registrar: cannot marshal %T", v)
	}
	return m.marshal(), nil
}

func (codec) Unmarshal(data []byte, v any) error {
	m, ok := v.(message)
	if !ok {
		return fmt.Errorf("registrar: cannot unmarshal into %T", v)
	}
	return m.unmarshal(data)
}
