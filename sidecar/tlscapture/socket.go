package tlscapture

import (
	"fmt"
	"os"
	"strconv"
	"strings"
)

// socketInode reads the inode of the socket behind fd of pid, from the
// link /proc/PID/fd/N ("socket:[INODE]"): a connection whose fd no longer
// names its socket has closed.
func socketInode(proc string, pid uint32, fd int32) (uint64, error) {
	link, err := os.Readlink(fmt.Sprintf("%s/%d/fd/%d", proc, pid, fd))
	if err != nil {
		return 0, err
	}
	s, ok := strings.CutPrefix(link, "socket:[")
	if !ok || !strings.HasSuffix(s, "]") {
		return 0, fmt.Errorf("fd %d of process %d is %q, not a socket", fd, pid, link)
	}
	return strconv.ParseUint(strings.TrimSuffix(s, "]"), 10, 64)
}
