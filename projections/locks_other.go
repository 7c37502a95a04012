//go:build !unix

package projections

func tryFileLock(string) (exclusiveLock, bool, error) { return nil, false, errLockUnsupported }
