// Package respond writes the simulator's JSON answers, the one encoding
// every face and the admin routes share (Content-Type and Content-Length
// set, as the real APIs send them).
package respond

import (
	"encoding/json"
	"net/http"
	"strconv"

	"k8s.io/klog/v2"
)

// JSON writes v as the body of a code answer; a nil v sends no body.
func JSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	if v == nil {
		w.WriteHeader(code)
		return
	}
	b, err := json.Marshal(v)
	if err != nil {
		klog.ErrorS(err, "cloudsim: encoding response")
		code, b = 500, []byte(`{"computeFault": {"code": 500, "message": "encoding error"}}`)
	}
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(code)
	_, _ = w.Write(b)
}

// Encoded writes a JSON body already encoded, as JSON writes it.
func Encoded(w http.ResponseWriter, code int, b []byte) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(code)
	_, _ = w.Write(b)
}
