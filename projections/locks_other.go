//go:build !unix

package projections

import "errors"

func tryFileLock(string) (exclusiveLock, bool, error) {
	return nil, false, errors.New("cross-process locks on SQLite need flock(2), which this system lacks")
}
