// Command go-gunzip is the upstream baseline of bench/stemcell-import.ts: what the upstream Go warden CPI
// (bosh-warden-cpi 45.2.x, util.GzipDecompressor) does to a stemcell image in gunzip mode
// (expand_stemcell_tarball: false), in one process started the way BOSH starts a CPI.
//
//	go-gunzip -mode upstream   <image> <target>   copy the image to <target>.gz (io.Copy, as bosh-utils'
//	                                             CopyFile), then run `gunzip <target>.gz` (GNU gzip)
//	go-gunzip -mode in-process <image> <target>   inflate with compress/gzip, io.Copy into <target>
//
// Neither mode fsyncs, checks a digest or walks the tar: upstream does none of these. Exit 1 on any error.
package main

import (
	"compress/gzip"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
)

// copyFile copies src to a new dst with src's mode, as upstream's file system CopyFile does.
func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	info, err := in.Stat()
	if err != nil {
		return err
	}
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, info.Mode())
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// upstream copies the image next to the target and lets GNU gzip inflate it in place.
func upstream(image, target string) error {
	if err := copyFile(image, target+".gz"); err != nil {
		return fmt.Errorf("copying '%s': %w", image, err)
	}
	output, err := exec.Command("gunzip", target+".gz").CombinedOutput()
	if err != nil {
		return fmt.Errorf("gunzip '%s.gz': %w: %s", target, err, output)
	}
	return nil
}

// inProcess inflates with Go's compress/gzip straight into the target.
func inProcess(image, target string) error {
	in, err := os.Open(image)
	if err != nil {
		return err
	}
	defer in.Close()
	reader, err := gzip.NewReader(in)
	if err != nil {
		return fmt.Errorf("reading '%s': %w", image, err)
	}
	out, err := os.OpenFile(target, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, reader); err != nil {
		out.Close()
		return fmt.Errorf("inflating '%s' into '%s': %w", image, target, err)
	}
	return out.Close()
}

func main() {
	mode := flag.String("mode", "upstream", "upstream (copy, then GNU gunzip) or in-process (compress/gzip)")
	flag.Parse()
	if flag.NArg() != 2 {
		fmt.Fprintln(os.Stderr, "usage: go-gunzip [-mode upstream|in-process] <image> <target>")
		os.Exit(2)
	}
	var err error
	switch *mode {
	case "upstream":
		err = upstream(flag.Arg(0), flag.Arg(1))
	case "in-process":
		err = inProcess(flag.Arg(0), flag.Arg(1))
	default:
		err = fmt.Errorf("unknown mode '%s'", *mode)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "go-gunzip:", err)
		os.Exit(1)
	}
}
