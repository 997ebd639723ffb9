package app

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/openblock-csi/openblock-csi/pkg/cloud"
	"github.com/openblock-csi/openblock-csi/pkg/cloudconfig"
	"github.com/openblock-csi/openblock-csi/pkg/cloudsim"
	simlunanode "github.com/openblock-csi/openblock-csi/pkg/cloudsim/lunanode"
	"github.com/openblock-csi/openblock-csi/pkg/cloudsim/simtest"
)

// Wrong credentials fail NewCloud on every backend alike, so the
// controller exits at start on Cinder and Lunanode the same way; the
// error never carries the secret.
func TestWrongCredentialsFailAtStart(t *testing.T) {
	_, base := simtest.Start(t, cloudsim.Config{Profile: "generic"})
	const wrongPW = "wrong-Pw-7Hq2"
	wrongKey := strings.Repeat("Wk", 64)
	configs := map[string]string{
		"cinder": fmt.Sprintf("[Global]\nauth-url = %s/identity/v3\nusername = %s\npassword = %s\ntenant-name = %s\ndomain-name = %s\n",
			base, cloudsim.DefaultUser, wrongPW, cloudsim.DefaultProject, cloudsim.DefaultDomain),
		"lunanode": fmt.Sprintf("[BlockStorage]\nbackend = lunanode\n[Lunanode]\napi-id = %s\napi-key = %s\napi-url = %s/lunanode/api/\n",
			simlunanode.DefaultAPIID, wrongKey, base),
	}
	for name, ini := range configs {
		t.Run(name, func(t *testing.T) {
			cc, err := cloudconfig.Parse([]byte(ini))
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			_, err = NewCloud(ctx, cc, "test", nil)
			if !errors.Is(err, cloud.ErrUnauthorized) {
				t.Fatalf("NewCloud with wrong credentials: %v, want ErrUnauthorized", err)
			}
			if strings.Contains(err.Error(), wrongPW) || strings.Contains(err.Error(), wrongKey) {
				t.Errorf("error carries the secret: %v", err)
			}
		})
	}
}
