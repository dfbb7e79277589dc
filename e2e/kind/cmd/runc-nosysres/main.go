// Command runc-nosysres is an OCI runtime shim for hosts whose capability bounding set
// lacks some capabilities (these machines miss CAP_SYS_RESOURCE). A privileged container
// asks for every capability the engine knows, and runc then fails with "unable to apply
// caps". Before handing over to runc, the shim removes from the container's process spec
// every capability the host cannot grant; everything else passes through unchanged.
package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// Capability numbers from linux/capability.h.
var capabilityNumbers = map[string]uint{
	"CAP_CHOWN": 0, "CAP_DAC_OVERRIDE": 1, "CAP_DAC_READ_SEARCH": 2, "CAP_FOWNER": 3,
	"CAP_FSETID": 4, "CAP_KILL": 5, "CAP_SETGID": 6, "CAP_SETUID": 7, "CAP_SETPCAP": 8,
	"CAP_LINUX_IMMUTABLE": 9, "CAP_NET_BIND_SERVICE": 10, "CAP_NET_BROADCAST": 11,
	"CAP_NET_ADMIN": 12, "CAP_NET_RAW": 13, "CAP_IPC_LOCK": 14, "CAP_IPC_OWNER": 15,
	"CAP_SYS_MODULE": 16, "CAP_SYS_RAWIO": 17, "CAP_SYS_CHROOT": 18, "CAP_SYS_PTRACE": 19,
	"CAP_SYS_PACCT": 20, "CAP_SYS_ADMIN": 21, "CAP_SYS_BOOT": 22, "CAP_SYS_NICE": 23,
	"CAP_SYS_RESOURCE": 24, "CAP_SYS_TIME": 25, "CAP_SYS_TTY_CONFIG": 26, "CAP_MKNOD": 27,
	"CAP_LEASE": 28, "CAP_AUDIT_WRITE": 29, "CAP_AUDIT_CONTROL": 30, "CAP_SETFCAP": 31,
	"CAP_MAC_OVERRIDE": 32, "CAP_MAC_ADMIN": 33, "CAP_SYSLOG": 34, "CAP_WAKE_ALARM": 35,
	"CAP_BLOCK_SUSPEND": 36, "CAP_AUDIT_READ": 37, "CAP_PERFMON": 38, "CAP_BPF": 39,
	"CAP_CHECKPOINT_RESTORE": 40,
}

// runc's global options that take a value (see `runc --help`).
var globalOptionsWithValue = map[string]bool{
	"--root": true, "--log": true, "--log-format": true, "--criu": true, "--rootless": true,
}

func main() {
	args := os.Args[1:]
	if err := adjustSpec(args); err != nil {
		fmt.Fprintf(os.Stderr, "runc-nosysres: %v\n", err)
		os.Exit(1)
	}
	runc := os.Getenv("RUNC_NOSYSRES_RUNC")
	if runc == "" {
		runc = "/usr/sbin/runc"
	}
	if err := syscall.Exec(runc, append([]string{"runc"}, args...), os.Environ()); err != nil {
		fmt.Fprintf(os.Stderr, "runc-nosysres: exec %s: %v\n", runc, err)
		os.Exit(1)
	}
}

func adjustSpec(args []string) error {
	command, rest := subcommand(args)
	switch command {
	case "create", "run":
		bundle := optionValue(rest, "--bundle", "-b")
		if bundle == "" {
			bundle = "."
		}
		return rewriteCapabilities(filepath.Join(bundle, "config.json"), "process", "capabilities")
	case "exec":
		if process := optionValue(rest, "--process", "-p"); process != "" {
			return rewriteCapabilities(process, "capabilities")
		}
	}
	return nil
}

// subcommand returns runc's subcommand and the arguments after it.
func subcommand(args []string) (string, []string) {
	for i := 0; i < len(args); i++ {
		arg := args[i]
		if !strings.HasPrefix(arg, "-") {
			return arg, args[i+1:]
		}
		if globalOptionsWithValue[arg] {
			i++
		}
	}
	return "", nil
}

func optionValue(args []string, names ...string) string {
	for i, arg := range args {
		for _, name := range names {
			if arg == name && i+1 < len(args) {
				return args[i+1]
			}
			if strings.HasPrefix(arg, name+"=") {
				return strings.TrimPrefix(arg, name+"=")
			}
		}
	}
	return ""
}

// rewriteCapabilities drops ungrantable capabilities from every set found at keyPath.
func rewriteCapabilities(path string, keyPath ...string) error {
	info, err := os.Stat(path)
	if err != nil {
		return err
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	var doc map[string]any
	if err := json.Unmarshal(raw, &doc); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	node := doc
	for _, key := range keyPath {
		child, ok := node[key].(map[string]any)
		if !ok {
			return nil
		}
		node = child
	}
	bounding, err := boundingSet()
	if err != nil {
		return err
	}
	changed := false
	for set, value := range node {
		names, ok := value.([]any)
		if !ok {
			continue
		}
		kept := make([]any, 0, len(names))
		for _, name := range names {
			if number, known := capabilityNumbers[fmt.Sprint(name)]; known && bounding&(1<<number) == 0 {
				changed = true
				continue
			}
			kept = append(kept, name)
		}
		node[set] = kept
	}
	if !changed {
		return nil
	}
	out, err := json.Marshal(doc)
	if err != nil {
		return err
	}
	return os.WriteFile(path, out, info.Mode().Perm())
}

func boundingSet() (uint64, error) {
	raw, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(raw), "\n") {
		if value, ok := strings.CutPrefix(line, "CapBnd:"); ok {
			return strconv.ParseUint(strings.TrimSpace(value), 16, 64)
		}
	}
	return 0, fmt.Errorf("no CapBnd in /proc/self/status")
}
