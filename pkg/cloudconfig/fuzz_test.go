package cloudconfig

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
)

// rendered is every way a config reaches a log line or an answer.
func rendered(c *Config) string {
	j, _ := json.Marshal(c)
	r := c.Redacted()
	return fmt.Sprintf("%v|%+v|%#v|%s|%s|%v|%v|%v", c, c, c, c.String(), j, r, c.Global, c.Lunanode)
}

// FuzzParse parses arbitrary files: no panic, and a parsed config renders
// (String, %v, %+v, %#v, JSON, Redacted) without any of its secrets.
func FuzzParse(f *testing.F) {
	f.Add([]byte("[Global]\nauth-url = http://127.0.0.1:5000/v3\nusername = admin\npassword = \"pa ss#word\"\ntenant-name = demo\ndomain-name = Default\n[BlockStorage]\nprofile = nhn\n"))
	f.Add([]byte("[Global]\nauth-url = https://id.example/v3\napplication-credential-id = abc\napplication-credential-secret = Zm9vYmFyYmF6cXV4\n[BlockStorage]\nprofile = helion\nrate-limit = 1.5\n"))
	f.Add([]byte("[BlockStorage]\nbackend = lunanode\n[Lunanode]\napi-id = 0123456789abcdef\napi-key = " + strings.Repeat("k", 128) + "\nzones = toronto, montreal\n"))
	f.Add([]byte("password = outside\n[global]\nPASSWORD = x ; comment\n[blockstorage]\napi-version = v9\nzones = ,,\n"))
	f.Add([]byte("[Global]\npassword = \"unterminated\n"))
	f.Add([]byte("[Global]\npassword = \"bad \\q escape\"\n"))
	f.Add([]byte("\xff\xfe[\x00]"))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := Parse(data)
		if err != nil {
			return
		}
		out := rendered(c)
		blank := *c
		blank.Global.Password, blank.Global.ApplicationCredentialSecret, blank.Lunanode.APIKey = "", "", ""
		without := rendered(&blank)
		for _, s := range []Secret{c.Global.Password, c.Global.ApplicationCredentialSecret, c.Lunanode.APIKey} {
			v := s.Reveal()
			// A short or common value can turn up by chance (a password
			// equal to the user name); only what the secret adds counts.
			if len(v) >= 6 && strings.Contains(out, v) && !strings.Contains(without, v) {
				t.Fatalf("secret %q appears in the rendered config:\n%s", v, out)
			}
		}
	})
}

// FuzzParseSecretErrors writes a secret into an otherwise arbitrary file:
// neither the parsed config nor the parse error may show it.
func FuzzParseSecretErrors(f *testing.F) {
	f.Add("auth-url = http://127.0.0.1/v3\nusername = u", "password", " = ", "S3cretPassw0rd", "[BlockStorage]\nprofile = generic")
	f.Add("application-credential-id = id1", "application-credential-secret", "=", "AppCredSecretValue1", "")
	f.Add("", "password", " = \"", "Quoted1Secret", "")
	f.Add("", "password", ": ", "ColonSecret99", "[BlockStorage]\napi-version = 7")
	f.Add("", "password", " =", "TrailingSecret1", "[Lunanode]\napi-key = short")
	f.Fuzz(func(t *testing.T, before, key, sep, secret, after string) {
		if len(secret) < 8 || strings.Trim(secret, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789") != "" {
			return // only distinctive tokens can be told apart from the rest of the file
		}
		if strings.Contains(before+key+sep+after, secret) {
			return
		}
		data := "[Global]\n" + before + "\n" + key + sep + secret + "\n" + after + "\n"
		c, err := Parse([]byte(data))
		if err != nil {
			if strings.Contains(err.Error(), secret) {
				t.Fatalf("the parse error shows the secret: %v", err)
			}
			return
		}
		if key != "password" && key != "application-credential-secret" {
			return // the value may be a non-secret key's, which prints
		}
		if strings.Contains(rendered(c), secret) {
			t.Fatalf("secret in the rendered config: %s", rendered(c))
		}
	})
}

// gopkg.in/ini's syntax errors quote the offending line ("key-value
// delimiter not found: password hunter2" for a forgotten "="); Parse must
// not pass that on (found by FuzzParseSecretErrors).
func TestParseErrorHidesSecret(t *testing.T) {
	for _, data := range []string{
		"[Global]\npassword hunter2hunter2\n",
		"[Global]\napplication-credential-secret hunter2hunter2\n",
		"[Lunanode]\napi-key hunter2hunter2\n",
		"[Global]\n \"hunter2hunter2\n",
	} {
		_, err := Parse([]byte(data))
		if err == nil {
			t.Fatalf("%q parsed", data)
		}
		if strings.Contains(err.Error(), "hunter2hunter2") {
			t.Errorf("Parse(%q): error shows the secret: %v", data, err)
		}
	}
}
