package checkin

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestResultText(t *testing.T) {
	for _, r := range []Result{Success, Failure} {
		b, err := r.MarshalText()
		if err != nil {
			t.Fatal(err)
		}
		var got Result
		if err := got.UnmarshalText(b); err != nil || got != r {
			t.Errorf("%s: got %v, %v after a round trip", r, got, err)
		}
	}
	if got, want := Result(0).String(), "result(0)"; got != want {
		t.Errorf("zero Result: got %q, want %q", got, want)
	}
	var r Result
	if err := r.UnmarshalText([]byte("ok")); err == nil {
		t.Error(`UnmarshalText("ok"): got no error`)
	}
	b, _ := json.Marshal(Outcome{Result: Failure})
	if want := `"result":"failure"`; !strings.Contains(string(b), want) {
		t.Errorf("JSON: got %s, want it to contain %s", b, want)
	}
}
