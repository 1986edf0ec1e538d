// monit-csrf-proxy sits between the BOSH agent and monit in the test stemcell (scripts/test-stemcell.sh).
// Test tooling only, never part of garden-cpi.
//
// Why: BOSH stemcells ship monit 5.2.5; Debian bookworm ships monit 5.33, whose HTTP interface refuses
// every POST without a CSRF token ("403 Invalid CSRF Token": a `securitytoken` form field equal to the
// `securitytoken` cookie), and monit has no setting to turn that off. The agent's monit client
// (jobsupervisor/monit/http_client.go) POSTs `action=start|stop|unmonitor` with basic auth and no token,
// so no job would ever start. This proxy listens where the agent looks for monit (127.0.0.1:2822) and
// adds one matching token pair to every POST before passing it to monit (127.0.0.1:2823); everything
// else (basic auth, GET /_status2) passes unchanged.
package main

import (
	"bytes"
	"flag"
	"io"
	"log"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strconv"
)

const token = "bosh-agent"

func main() {
	listen := flag.String("listen", "127.0.0.1:2822", "address the agent talks to")
	monit := flag.String("monit", "http://127.0.0.1:2823", "monit's own HTTP interface")
	flag.Parse()

	target, err := url.Parse(*monit)
	if err != nil {
		log.Fatalf("-monit: %v", err)
	}
	proxy := httputil.NewSingleHostReverseProxy(target)
	direct := proxy.Director
	proxy.Director = func(request *http.Request) {
		direct(request)
		if request.Method != http.MethodPost {
			return
		}
		body, err := io.ReadAll(request.Body)
		if err != nil {
			log.Printf("reading a POST body: %v", err)
		}
		if len(body) > 0 {
			body = append(body, '&')
		}
		body = append(body, "securitytoken="+token...)
		request.Body = io.NopCloser(bytes.NewReader(body))
		request.ContentLength = int64(len(body))
		request.Header.Set("Content-Length", strconv.Itoa(len(body)))
		request.AddCookie(&http.Cookie{Name: "securitytoken", Value: token})
	}
	log.Fatal(http.ListenAndServe(*listen, proxy))
}
