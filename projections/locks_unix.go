//go:build unix

package projections

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
)

// tryFileLock takes flock(2) on path (created if missing), or returns ok
// false at once when another open file holds it: another process, or
// another lock of this one.
func tryFileLock(path string) (exclusiveLock, bool, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
		return nil, false, fmt.Errorf("lock directory: %w", err)
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o640)
	if err != nil {
		return nil, false, fmt.Errorf("open lock file: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		_ = f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, false, nil
		}
		return nil, false, fmt.Errorf("lock %s: %w", path, err)
	}
	return fileLock{f: f}, true, nil
}
