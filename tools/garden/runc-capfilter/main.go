// Command runc-capfilter is test tooling for scripts/real-garden.sh, never part of the release.
//
// gdn runs it as its --runtime-plugin in place of runc. Sandboxed hosts (CI, developer VMs) may
// lack some capabilities in every process's bounding set (here CAP_SYS_RESOURCE), and runc then
// fails privileged containers with "unable to apply caps: operation not permitted". Before
// handing over to the real runc this wrapper removes, from the OCI spec that runc is about to
// read, every capability that is not in this process's own bounding set (CapBnd in
// /proc/self/status):
//
//   - `run`/`create`: <bundle>/config.json, process.capabilities, rewritten in place;
//   - `exec -p <file>`: the process spec's capabilities, written to a new file beside the
//     --pid-file (or in the bundle-less temp dir) and passed to runc instead.
//
// Every other argument and subcommand is passed through unchanged, and the real runc replaces
// this process (execve), so exit codes, signals, stdio and inherited fds behave as with runc
// itself. It prints nothing of its own (gdn parses runc's output). The real runc is
// $GARDEN_CPI_REAL_RUNC, else /usr/sbin/runc, else /usr/bin/runc.
package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// capNames maps Linux capability numbers (linux/capability.h) to OCI names.
var capNames = []string{
	"CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH", "CAP_FOWNER", "CAP_FSETID",
	"CAP_KILL", "CAP_SETGID", "CAP_SETUID", "CAP_SETPCAP", "CAP_LINUX_IMMUTABLE",
	"CAP_NET_BIND_SERVICE", "CAP_NET_BROADCAST", "CAP_NET_ADMIN", "CAP_NET_RAW", "CAP_IPC_LOCK",
	"CAP_IPC_OWNER", "CAP_SYS_MODULE", "CAP_SYS_RAWIO", "CAP_SYS_CHROOT", "CAP_SYS_PTRACE",
	"CAP_SYS_PACCT", "CAP_SYS_ADMIN", "CAP_SYS_BOOT", "CAP_SYS_NICE", "CAP_SYS_RESOURCE",
	"CAP_SYS_TIME", "CAP_SYS_TTY_CONFIG", "CAP_MKNOD", "CAP_LEASE", "CAP_AUDIT_WRITE",
	"CAP_AUDIT_CONTROL", "CAP_SETFCAP", "CAP_MAC_OVERRIDE", "CAP_MAC_ADMIN", "CAP_SYSLOG",
	"CAP_WAKE_ALARM", "CAP_BLOCK_SUSPEND", "CAP_AUDIT_READ", "CAP_PERFMON", "CAP_BPF",
	"CAP_CHECKPOINT_RESTORE",
}

// globalFlagsWithValue are runc's global flags that take a separate value argument.
var globalFlagsWithValue = map[string]bool{
	"--root": true, "--log": true, "--log-format": true, "--criu": true, "--rootless": true,
}

func main() {
	args := os.Args[1:]
	if missing := missingCaps(); len(missing) > 0 {
		args = filterForCommand(args, missing)
	}
	realRunc := findRealRunc()
	err := syscall.Exec(realRunc, append([]string{"runc"}, args...), os.Environ())
	fmt.Fprintf(os.Stderr, "runc-capfilter: exec %s: %v\n", realRunc, err)
	os.Exit(127)
}

func findRealRunc() string {
	if p := os.Getenv("GARDEN_CPI_REAL_RUNC"); p != "" {
		return p
	}
	for _, p := range []string{"/usr/sbin/runc", "/usr/bin/runc"} {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	return "/usr/sbin/runc"
}

// missingCaps returns the known capability names absent from this process's bounding set
// (nil when it cannot tell, so that nothing is filtered).
func missingCaps() map[string]bool {
	status, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return nil
	}
	for _, line := range strings.Split(string(status), "\n") {
		if !strings.HasPrefix(line, "CapBnd:") {
			continue
		}
		bnd, err := strconv.ParseUint(strings.TrimSpace(strings.TrimPrefix(line, "CapBnd:")), 16, 64)
		if err != nil {
			return nil
		}
		missing := map[string]bool{}
		for i, name := range capNames {
			if bnd&(uint64(1)<<uint(i)) == 0 {
				missing[name] = true
			}
		}
		return missing
	}
	return nil
}

// filterForCommand rewrites the spec the runc subcommand in args will read and returns the
// (possibly changed) args. Any failure leaves args as they were: runc then reports the problem.
func filterForCommand(args []string, missing map[string]bool) []string {
	i := 0
	for i < len(args) && strings.HasPrefix(args[i], "-") {
		if globalFlagsWithValue[args[i]] {
			i++
		}
		i++
	}
	if i >= len(args) {
		return args
	}
	sub, rest := args[i], args[i+1:]
	switch sub {
	case "run", "create":
		bundle := flagValue(rest, "--bundle", "-b")
		if bundle == "" {
			bundle = "."
		}
		_ = filterFile(filepath.Join(bundle, "config.json"), filepath.Join(bundle, "config.json"), missing, true)
	case "exec":
		idx := flagIndex(rest, "--process", "-p")
		if idx < 0 || idx+1 >= len(rest) {
			return args
		}
		dir := os.TempDir()
		if pidFile := flagValue(rest, "--pid-file"); pidFile != "" {
			dir = filepath.Dir(pidFile)
		}
		out := filepath.Join(dir, fmt.Sprintf("capfilter-process-%d.json", os.Getpid()))
		if err := filterFile(rest[idx+1], out, missing, false); err != nil {
			return args
		}
		changed := append([]string{}, args...)
		changed[i+1+idx+1] = out
		return changed
	}
	return args
}

func flagIndex(args []string, names ...string) int {
	for i, a := range args {
		for _, n := range names {
			if a == n {
				return i
			}
		}
	}
	return -1
}

func flagValue(args []string, names ...string) string {
	for i, a := range args {
		for _, n := range names {
			if a == n && i+1 < len(args) {
				return args[i+1]
			}
			if strings.HasPrefix(a, n+"=") {
				return strings.TrimPrefix(a, n+"=")
			}
		}
	}
	return ""
}

// filterFile reads an OCI config (bundle=true: caps under "process") or process spec, drops the
// missing capabilities and writes the result to out (atomically when out == in). Numbers are kept
// verbatim (json.Number) so that large limits survive the round trip.
func filterFile(in, out string, missing map[string]bool, bundle bool) error {
	data, err := os.ReadFile(in)
	if err != nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var doc map[string]any
	if err := dec.Decode(&doc); err != nil {
		return err
	}
	proc := doc
	if bundle {
		p, ok := doc["process"].(map[string]any)
		if !ok {
			return nil
		}
		proc = p
	}
	caps, ok := proc["capabilities"].(map[string]any)
	if !ok {
		if out != in {
			return os.WriteFile(out, data, 0o600)
		}
		return nil
	}
	for set, v := range caps {
		list, ok := v.([]any)
		if !ok {
			continue
		}
		kept := []any{}
		for _, c := range list {
			if s, ok := c.(string); ok && missing[s] {
				continue
			}
			kept = append(kept, c)
		}
		caps[set] = kept
	}
	encoded, err := json.Marshal(doc)
	if err != nil {
		return err
	}
	mode := os.FileMode(0o600)
	if st, err := os.Stat(in); err == nil && st.Mode().IsRegular() {
		mode = st.Mode().Perm()
	}
	tmp := out + ".capfilter-tmp"
	if err := os.WriteFile(tmp, encoded, mode); err != nil {
		return err
	}
	return os.Rename(tmp, out)
}
