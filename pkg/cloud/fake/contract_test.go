package fake_test

import (
	"testing"
	"time"

	"github.com/openblock-csi/openblock-csi/pkg/cloud"
	"github.com/openblock-csi/openblock-csi/pkg/cloud/contract"
	"github.com/openblock-csi/openblock-csi/pkg/cloud/fake"
)

// The fake must pass the same behaviour suite as the real providers, or
// driver unit tests built on it would test a cloud that does not exist.
func TestContract(t *testing.T) {
	contract.Run(t, func(t *testing.T) cloud.Cloud {
		return fake.New(fake.Config{Servers: []string{"server-1"}, Delay: 5 * time.Millisecond})
	}, contract.Env{ServerID: "server-1", Zone: "nova", Poll: 5 * time.Millisecond})
}
