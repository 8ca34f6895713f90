package standins

import (
	"context"
	"time"
)

// installTimeout bounds a first install (registry downloads included).
const installTimeout = 15 * time.Minute

// InstallAndStart installs the stand-ins under the repository root if
// needed and starts a stack: what a test package's TestMain does (see
// standinstest), within a bound that allows a first install.
func InstallAndStart() (*Stack, error) {
	root, err := Root()
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), installTimeout)
	defer cancel()
	if err := Install(ctx, root); err != nil {
		return nil, err
	}
	return Start(ctx, root)
}
