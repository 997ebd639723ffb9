package provider

import (
	"github.com/openblock-csi/openblock-csi/pkg/cloud/lunanode"
	"github.com/openblock-csi/openblock-csi/pkg/cloud/openstack"
	"github.com/openblock-csi/openblock-csi/pkg/cloudconfig"
)

// OpenStackConfig translates the cloud config's [Global] and
// [BlockStorage] sections into the OpenStack adapter's own Config. The
// adapter never sees the file, so the file's format can change without
// touching it.
func OpenStackConfig(cc *cloudconfig.Config) openstack.Config {
	g, bs := cc.Global, cc.BlockStorage
	return openstack.Config{
		AuthURL:           g.AuthURL,
		Username:          g.Username,
		UserID:            g.UserID,
		Password:          g.Password.Reveal(),
		TenantID:          g.TenantID,
		TenantName:        g.TenantName,
		DomainID:          g.DomainID,
		DomainName:        g.DomainName,
		UserDomainID:      g.UserDomainID,
		UserDomainName:    g.UserDomainName,
		ProjectDomainID:   g.ProjectDomainID,
		ProjectDomainName: g.ProjectDomainName,

		ApplicationCredentialID:     g.ApplicationCredentialID,
		ApplicationCredentialName:   g.ApplicationCredentialName,
		ApplicationCredentialSecret: g.ApplicationCredentialSecret.Reveal(),

		Region:       g.Region,
		EndpointType: g.EndpointType,
		CAFile:       g.CAFile,
		TLSInsecure:  g.TLSInsecure,

		APIVersion:      bs.APIVersion,
		VolumeEndpoint:  bs.VolumeEndpoint,
		ComputeEndpoint: bs.ComputeEndpoint,
		RateLimit:       bs.RateLimit,
		RateBurst:       bs.RateBurst,
		Capabilities:    bs.Capabilities(),
	}
}

// LunanodeConfig translates the cloud config's [Lunanode] section into the
// Lunanode adapter's own Config.
func LunanodeConfig(cc *cloudconfig.Config) lunanode.Config {
	l := cc.Lunanode
	return lunanode.Config{
		APIURL: l.APIURL, APIID: l.APIID, APIKey: l.APIKey.Reveal(),
		SerialLength: l.SerialLength, Regions: l.Zones, DefaultRegion: l.DefaultZone,
	}
}
