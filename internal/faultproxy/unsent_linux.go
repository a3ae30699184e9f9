package faultproxy

import (
	"net"
	"syscall"
	"unsafe"
)

// unsentBytes returns the number of bytes in conn's send queue that the
// peer has not acknowledged, read with the SIOCOUTQ ioctl (TIOCOUTQ has the
// same value).
func unsentBytes(conn *net.TCPConn) (int, bool) {
	raw, err := conn.SyscallConn()
	if err != nil {
		return 0, false
	}
	var n int32
	var errno syscall.Errno
	err = raw.Control(func(fd uintptr) {
		_, _, errno = syscall.Syscall(syscall.SYS_IOCTL, fd, syscall.TIOCOUTQ, uintptr(unsafe.Pointer(&n)))
	})
	if err != nil || errno != 0 {
		return 0, false
	}
	return int(n), true
}
