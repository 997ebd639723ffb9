package registrar

import (
	"context"

	"google.golang.org/grpc"
	"k8s.io/klog/v2"
)

// service answers the kubelet.
type service struct {
	info   PluginInfo
	failed chan<- string
}

func (s *service) getInfo(context.Context, *InfoRequest) (*PluginInfo, error) {
	info := s.info
	return &info, nil
}

func (s *service) notifyRegistrationStatus(_ context.Context, st *RegistrationStatus) (*RegistrationStatusResponse, error) {
	if st.PluginRegistered {
		klog.InfoS("Registered with the kubelet", "driver", s.info.Name)
	} else {
		klog.ErrorS(nil, "The kubelet refused the registration", "driver", s.info.Name, "error", st.Error)
		select {
		case s.failed <- st.Error:
		default:
		}
	}
	return &RegistrationStatusResponse{}, nil
}

// registrationServer is the handler type of serviceDesc.
type registrationServer interface {
	getInfo(context.Context, *InfoRequest) (*PluginInfo, error)
	notifyRegistrationStatus(context.Context, *RegistrationStatus) (*RegistrationStatusResponse, error)
}

// serviceDesc is what protoc-gen-go-grpc would generate for the
// Registration service of api.proto.
var serviceDesc = grpc.ServiceDesc{
	ServiceName: serviceName,
	HandlerType: (*registrationServer)(nil),
	Methods: []grpc.MethodDesc{
		{MethodName: "GetInfo", Handler: getInfoHandler},
		{MethodName: "NotifyRegistrationStatus", Handler: notifyHandler},
	},
	Streams:  []grpc.StreamDesc{},
	Metadata: "api.proto",
}

func getInfoHandler(srv any, ctx context.Context, dec func(any) error, interceptor grpc.UnaryServerInterceptor) (any, error) {
	in := new(InfoRequest)
	if err := dec(in); err != nil {
		return nil, err
	}
	s := srv.(registrationServer)
	if interceptor == nil {
		return s.getInfo(ctx, in)
	}
	info := &grpc.UnaryServerInfo{Server: srv, FullMethod: "/" + serviceName + "/GetInfo"}
	return interceptor(ctx, in, info, func(ctx context.Context, req any) (any, error) {
		return s.getInfo(ctx, req.(*InfoRequest))
	})
}

func notifyHandler(srv any, ctx context.Context, dec func(any) error, interceptor grpc.UnaryServerInterceptor) (any, error) {
	in := new(RegistrationStatus)
	if err := dec(in); err != nil {
		return nil, err
	}
	s := srv.(registrationServer)
	if interceptor == nil {
		return s.notifyRegistrationStatus(ctx, in)
	}
	info := &grpc.UnaryServerInfo{Server: srv, FullMethod: "/" + serviceName + "/NotifyRegistrationStatus"}
	return interceptor(ctx, in, info, func(ctx context.Context, req any) (any, error) {
		return s.notifyRegistrationStatus(ctx, req.(*RegistrationStatus))
	})
}
