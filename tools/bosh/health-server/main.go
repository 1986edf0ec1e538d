// health-server is the one program of the create-env demo's test release (testkit/create-env/release, job
// disk-marker): the test stemcell is Debian minbase with bash and runit only, so the job ships this static
// binary (standard library only, CGO_ENABLED=0) as its package. Test tooling, never part of garden-cpi.
//
// At start it writes a marker file on the persistent disk unless one is there, then answers
// GET /health with JSON: the job's greeting property, the marker's content, whether the store directory
// is a mount of its own (the persistent disk) and its size in MiB. The demo driver compares these
// across create-env runs: the marker must survive a disk migration and a VM recreate.
package main

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

type health struct {
	Status       string `json:"status"`
	Greeting     string `json:"greeting"`
	Marker       string `json:"marker"`
	StoreMounted bool   `json:"store_mounted"`
	StoreSizeMiB uint64 `json:"store_size_mib"`
}

// writeMarkerOnce creates path with a unique line unless it exists; temp file, fsync, rename.
func writeMarkerOnce(path string) error {
	if _, err := os.Stat(path); err == nil {
		return nil
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	random := make([]byte, 8)
	if _, err := rand.Read(random); err != nil {
		return err
	}
	content := fmt.Sprintf("written %s id %s\n", time.Now().UTC().Format(time.RFC3339), hex.EncodeToString(random))
	tmp := path + ".tmp"
	file, err := os.OpenFile(tmp, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	if _, err := file.WriteString(content); err != nil {
		file.Close()
		return err
	}
	if err := file.Sync(); err != nil {
		file.Close()
		return err
	}
	if err := file.Close(); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// isOwnMount: the directory is on another device than its parent (the persistent disk's mount).
func isOwnMount(dir string) bool {
	var self, parent syscall.Stat_t
	if syscall.Stat(dir, &self) != nil || syscall.Stat(filepath.Dir(dir), &parent) != nil {
		return false
	}
	return self.Dev != parent.Dev
}

func main() {
	listen := flag.String("listen", "0.0.0.0:8080", "address to serve /health on")
	store := flag.String("store", "/var/vcap/store", "the persistent disk's mount point")
	marker := flag.String("marker", "/var/vcap/store/disk-marker/marker", "marker file on the persistent disk")
	greeting := flag.String("greeting", "", "the job's greeting property")
	flag.Parse()

	if !isOwnMount(*store) {
		log.Fatalf("%s is not a mount of its own: no persistent disk", *store)
	}
	if err := writeMarkerOnce(*marker); err != nil {
		log.Fatalf("writing the marker %s: %v", *marker, err)
	}
	http.HandleFunc("/health", func(w http.ResponseWriter, _ *http.Request) {
		content, err := os.ReadFile(*marker)
		answer := health{Status: "ok", Greeting: *greeting, Marker: strings.TrimSpace(string(content)), StoreMounted: isOwnMount(*store)}
		var fs syscall.Statfs_t
		if syscall.Statfs(*store, &fs) == nil {
			answer.StoreSizeMiB = fs.Blocks * uint64(fs.Bsize) / (1 << 20)
		}
		status := http.StatusOK
		if err != nil || !answer.StoreMounted {
			answer.Status = "unhealthy"
			status = http.StatusServiceUnavailable
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_ = json.NewEncoder(w).Encode(answer)
	})
	log.Printf("serving /health on %s (marker %s)", *listen, *marker)
	log.Fatal(http.ListenAndServe(*listen, nil))
}
