package config

import "strconv"

// RuntimeVar is an environment variable of the Go runtime.
type RuntimeVar struct{ Name, Value string }

// GoRuntimeEnv is the Go runtime's environment for a sidecar with r's
// resources, as the webhook sets it (and the bench, to run the sidecar as
// a pod would):
//   - GOMEMLIMIT, 90% of the memory limit: the runtime collects harder as
//     it nears it, leaving headroom below the limit for memory it does not
//     manage.
//   - GOMAXPROCS=1 under a CPU limit of at most one core. Go rounds a CPU
//     limit below 2 up to 2 processors; under a fraction of a core a second
//     one buys no parallelism, only wakeups that hand work between
//     threads. Measured at 0.25 CPU (podtap-bench live, alternating): 15 to
//     35% less CPU per pair up to 7,500 pairs/s, the same above.
func GoRuntimeEnv(r Resources) []RuntimeVar {
	var env []RuntimeVar
	if r.MemoryLimit != nil {
		env = append(env, RuntimeVar{"GOMEMLIMIT", strconv.FormatInt(GoMemLimit(r.MemoryLimit.Value()), 10)})
	}
	if r.CPULimit != nil && r.CPULimit.MilliValue() <= 1000 {
		env = append(env, RuntimeVar{"GOMAXPROCS", "1"})
	}
	return env
}

// GoMemLimit is the GOMEMLIMIT for a container memory limit of limit bytes.
func GoMemLimit(limit int64) int64 { return limit / 10 * 9 }
