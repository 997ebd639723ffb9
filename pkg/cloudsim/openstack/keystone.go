package openstack

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"strings"
	"time"

	"github.com/openblock-csi/openblock-csi/pkg/cloudsim/internal/respond"
)

// token is what a token id carries. Token ids are HMAC-signed (with a key kept
// in the state) so they survive a restart of the simulator, as Fernet tokens do.
type token struct {
	UserID    string    `json:"u"`
	ProjectID string    `json:"p"`
	Methods   []string  `json:"m"`
	Issued    time.Time `json:"i"`
	Expires   time.Time `json:"e"`
}

func (s *Handler) issueToken(t token) string {
	payload, _ := json.Marshal(t)
	mac := hmac.New(sha256.New, s.st.TokenKey)
	mac.Write(payload)
	return "sim" + base64.RawURLEncoding.EncodeToString(payload) + "." + base64.RawURLEncoding.EncodeToString(mac.Sum(nil))
}

// parseToken returns the token, or nil if it is unknown, forged or expired.
func (s *Handler) parseToken(id string) *token {
	id, ok := strings.CutPrefix(id, "sim")
	if !ok {
		return nil
	}
	p, sig, ok := strings.Cut(id, ".")
	if !ok {
		return nil
	}
	payload, err1 := base64.RawURLEncoding.DecodeString(p)
	got, err2 := base64.RawURLEncoding.DecodeString(sig)
	if err1 != nil || err2 != nil {
		return nil
	}
	mac := hmac.New(sha256.New, s.st.TokenKey)
	mac.Write(payload)
	if !hmac.Equal(got, mac.Sum(nil)) {
		return nil
	}
	var t token
	if json.Unmarshal(payload, &t) != nil || time.Now().After(t.Expires) {
		return nil
	}
	return &t
}

func keystoneError(w http.ResponseWriter, code int, title, msg string) {
	respond.JSON(w, code, map[string]any{"error": map[string]any{"code": code, "title": title, "message": msg}})
}

func unauthorized(c *call) {
	c.w.Header().Set("WWW-Authenticate", `Keystone uri="`+c.baseURL()+`/identity"`)
	keystoneError(c.w, 401, "Unauthorized", "The request you have made requires authentication.")
}

// authenticate checks X-Auth-Token and that the token's project is the one
// in the URL. Cinder and Nova answer a missing, expired or unknown token the
// way keystonemiddleware does.
func (s *Handler) authenticate(c *call) bool {
	t := s.parseToken(c.r.Header.Get("X-Auth-Token"))
	if t == nil || t.ProjectID == "" {
		unauthorized(c)
		return false
	}
	c.tok = t
	c.project = c.r.PathValue("project")
	if c.project != "" && c.project != t.ProjectID {
		c.fail(errBadRequest("Malformed request URL: URL's project_id '%s' doesn't match Context's project_id '%s'", c.project, t.ProjectID))
		return false
	}
	return true
}

func (s *Handler) userByName(name, domainID, domainName string) *User {
	for i := range s.cfg.Users {
		u := &s.cfg.Users[i]
		if u.Name != name {
			continue
		}
		if domainID != "" && domainID != u.DomainID {
			continue
		}
		if domainName != "" && !strings.EqualFold(domainName, s.domainName(u.DomainID)) {
			continue
		}
		return u
	}
	return nil
}

func (s *Handler) userByID(id string) *User {
	for i := range s.cfg.Users {
		if s.cfg.Users[i].ID == id {
			return &s.cfg.Users[i]
		}
	}
	return nil
}

func (s *Handler) domainName(id string) string {
	if id == DefaultDomainID {
		return DefaultDomain
	}
	return id
}

func (s *Handler) project(id string) *Project {
	for i := range s.cfg.Projects {
		if s.cfg.Projects[i].ID == id {
			return &s.cfg.Projects[i]
		}
	}
	return nil
}

func (s *Handler) projectByName(name, domainID, domainName string) *Project {
	for i := range s.cfg.Projects {
		p := &s.cfg.Projects[i]
		if p.Name != name {
			continue
		}
		if domainID != "" && domainID != p.DomainID {
			continue
		}
		if domainName != "" && !strings.EqualFold(domainName, s.domainName(p.DomainID)) {
			continue
		}
		return p
	}
	return nil
}

func userHasProject(u *User, pid string) bool {
	for _, p := range u.Projects {
		if p == pid {
			return true
		}
	}
	return false
}

type service struct {
	typ, name string
	url       string
}

// catalog lists the services of a project, devstack style. Each cloud
// lists the block storage faces its document describes: HP Helion v1
// only (seed 004), NHN Cloud v2 only (seeds 000, 002), a generic cloud all.
func (s *Handler) catalog(base, project string) []service {
	out := []service{{"identity", "keystone", base + "/identity"}}
	for _, v := range s.prof.volumeFaces {
		switch v {
		case 1:
			out = append(out, service{"volume", "cinder", base + "/volume/v1/" + project})
		case 2:
			out = append(out, service{"volumev2", "cinderv2", base + "/volume/v2/" + project})
		case 3:
			out = append(out, service{"volumev3", "cinderv3", base + "/volume/v3/" + project},
				service{"block-storage", "cinder", base + "/volume/v3/" + project})
		}
	}
	return append(out,
		service{"compute", "nova", base + "/compute/" + s.prof.computeVer + "/" + project},
		service{"image", "glance", base + "/image"})
}

func (s *Handler) keystoneRoutes(mux *http.ServeMux) {
	s.handle(mux, FaceKeystone, "GET /identity", s.identityVersions)
	s.handle(mux, FaceKeystone, "GET /identity/{$}", s.identityVersions)
	s.handle(mux, FaceKeystone, "GET /identity/v3", s.identityV3Version)
	s.handle(mux, FaceKeystone, "GET /identity/v3/{$}", s.identityV3Version)
	s.handle(mux, FaceKeystone, "GET /identity/v2.0", s.identityV2Version)
	s.handle(mux, FaceKeystone, "GET /identity/v2.0/{$}", s.identityV2Version)
	s.handle(mux, FaceKeystone, "POST /identity/v2.0/tokens", s.tokensV2)
	s.handle(mux, FaceKeystone, "POST /identity/v3/auth/tokens", s.tokensV3)
	s.handle(mux, FaceKeystone, "GET /identity/v3/auth/tokens", s.validateV3)
	s.handle(mux, FaceKeystone, "HEAD /identity/v3/auth/tokens", s.validateV3)
	s.keystoneAdminRoutes(mux)
}

func (s *Handler) v3VersionDoc(base string) map[string]any {
	return map[string]any{
		"id": "v3.14", "status": "stable", "updated": "2020-04-07T00:00:00Z",
		"links":       []any{map[string]any{"rel": "self", "href": base + "/identity/v3/"}},
		"media-types": []any{map[string]any{"base": "application/json", "type": "application/vnd.openstack.identity-v3+json"}},
	}
}

func (s *Handler) v2VersionDoc(base string) map[string]any {
	return map[string]any{
		"id": "v2.0", "status": "deprecated", "updated": "2016-08-04T00:00:00Z",
		"links":       []any{map[string]any{"rel": "self", "href": base + "/identity/v2.0/"}},
		"media-types": []any{map[string]any{"base": "application/json", "type": "application/vnd.openstack.identity-v2.0+json"}},
	}
}

func (s *Handler) identityVersions(c *call) {
	b := c.baseURL()
	c.json(300, map[string]any{"versions": map[string]any{"values": []any{s.v3VersionDoc(b), s.v2VersionDoc(b)}}})
}

func (s *Handler) identityV3Version(c *call) {
	c.json(200, map[string]any{"version": s.v3VersionDoc(c.baseURL())})
}

func (s *Handler) identityV2Version(c *call) {
	c.json(200, map[string]any{"version": s.v2VersionDoc(c.baseURL())})
}

// tokensV2 is Keystone v2.0 POST /tokens (password or token, tenantId/tenantName).
// v2Auth is the auth object of a Keystone v2.0 token request.
type v2Auth struct {
	PasswordCredentials *struct {
		Username string `json:"username"`
		Password string `json:"password"`
	} `json:"passwordCredentials"`
	Token *struct {
		ID string `json:"id"`
	} `json:"token"`
	TenantID   string `json:"tenantId"`
	TenantName string `json:"tenantName"`
}

// ksFault is a Keystone error answer.
type ksFault struct {
	code       int
	title, msg string
}

var ksDenied = &ksFault{401, "Unauthorized", "The request you have made requires authentication."}

func ksBadRequest(msg string) *ksFault { return &ksFault{400, "Bad Request", msg} }

func (f *ksFault) write(w http.ResponseWriter) { keystoneError(w, f.code, f.title, f.msg) }

func (s *Handler) tokensV2(c *call) {
	var req struct {
		Auth v2Auth `json:"auth"`
	}
	if err := json.NewDecoder(c.r.Body).Decode(&req); err != nil {
		ksBadRequest("Expecting to find auth in request body.").write(c.w)
		return
	}
	u, methods, f := s.v2Identity(req.Auth)
	if f != nil {
		f.write(c.w)
		return
	}
	var proj *Project
	switch {
	case req.Auth.TenantID != "":
		proj = s.project(req.Auth.TenantID)
	case req.Auth.TenantName != "":
		proj = s.projectByName(req.Auth.TenantName, DefaultDomainID, "")
	}
	if (req.Auth.TenantID != "" || req.Auth.TenantName != "") && (u == nil || proj == nil || !userHasProject(u, proj.ID)) {
		ksDenied.write(c.w)
		return
	}
	if u == nil {
		ksDenied.write(c.w)
		return
	}
	t := token{UserID: u.ID, Methods: methods, Issued: time.Now().UTC(), Expires: time.Now().UTC().Add(s.cfg.TokenTTL)}
	if proj != nil {
		t.ProjectID = proj.ID
	}
	c.json(200, map[string]any{"access": s.v2Access(c, u, proj, t)})
}

// v2Identity is the user a v2.0 request proves to be, by password or token.
func (s *Handler) v2Identity(a v2Auth) (*User, []string, *ksFault) {
	switch {
	case a.PasswordCredentials != nil:
		u := s.userByName(a.PasswordCredentials.Username, DefaultDomainID, "")
		if u == nil || !hmac.Equal([]byte(u.Password), []byte(a.PasswordCredentials.Password)) {
			return nil, nil, ksDenied
		}
		return u, []string{"password"}, nil
	case a.Token != nil:
		t := s.parseToken(a.Token.ID)
		if t == nil {
			return nil, nil, ksDenied
		}
		return s.userByID(t.UserID), []string{"token"}, nil
	}
	return nil, nil, ksBadRequest("Expecting to find passwordCredentials or token in auth.")
}

// v2Access is the access object of a v2.0 token answer: the token, the
// catalog of its project (if scoped) and the user.
func (s *Handler) v2Access(c *call, u *User, proj *Project, t token) map[string]any {
	tok := map[string]any{
		"id": s.issueToken(t), "issued_at": t.Issued.Format(time.RFC3339),
		"expires": t.Expires.Format(time.RFC3339), "audit_ids": []string{newID()[:22]},
	}
	cat := []any{}
	if proj != nil {
		tok["tenant"] = map[string]any{"id": proj.ID, "name": proj.Name, "enabled": true, "description": nil}
		base := c.baseURL()
		for _, svc := range s.catalog(base, proj.ID) {
			cat = append(cat, map[string]any{
				"type": svc.typ, "name": svc.name, "endpoints_links": []any{},
				"endpoints": []any{map[string]any{
					"id": svc.typ + "-" + s.cfg.Region, "region": s.cfg.Region,
					"publicURL": svc.url, "internalURL": svc.url, "adminURL": svc.url,
				}},
			})
		}
	}
	roles := []any{}
	for _, r := range u.Roles {
		roles = append(roles, map[string]any{"name": r})
	}
	return map[string]any{
		"token":          tok,
		"serviceCatalog": cat,
		"user":           map[string]any{"id": u.ID, "name": u.Name, "username": u.Name, "roles": roles, "roles_links": []any{}},
		"metadata":       map[string]any{"is_admin": 0, "roles": []any{}},
	}
}

type v3Ref struct {
	ID     string `json:"id"`
	Name   string `json:"name"`
	Domain *struct {
		ID   string `json:"id"`
		Name string `json:"name"`
	} `json:"domain"`
}

func (r *v3Ref) domain() (id, name string) {
	if r.Domain == nil {
		return "", ""
	}
	return r.Domain.ID, r.Domain.Name
}

// v3Identity is the identity object of a Keystone v3 token request.
type v3Identity struct {
	Methods  []string `json:"methods"`
	Password *struct {
		User struct {
			v3Ref
			Password string `json:"password"`
		} `json:"user"`
	} `json:"password"`
	AppCred *struct {
		ID     string `json:"id"`
		Name   string `json:"name"`
		Secret string `json:"secret"`
		User   *v3Ref `json:"user"`
	} `json:"application_credential"`
	Token *struct {
		ID string `json:"id"`
	} `json:"token"`
}

// tokensV3 is Keystone v3 POST /auth/tokens: password (user id or name +
// domain), application_credential (id+secret), token; scope by project id or
// name+domain.
func (s *Handler) tokensV3(c *call) {
	var req struct {
		Auth struct {
			Identity v3Identity      `json:"identity"`
			Scope    json.RawMessage `json:"scope"`
		} `json:"auth"`
	}
	if err := json.NewDecoder(c.r.Body).Decode(&req); err != nil || len(req.Auth.Identity.Methods) == 0 {
		ksBadRequest("Expecting to find identity in auth.").write(c.w)
		return
	}
	id := req.Auth.Identity
	u, proj, fixedProject, f := s.v3Identify(id)
	if f == nil && u == nil {
		f = ksDenied
	}
	if f == nil && !fixedProject {
		proj, f = s.v3Scope(req.Auth.Scope, u)
	}
	if f != nil {
		f.write(c.w)
		return
	}
	t := token{UserID: u.ID, Methods: id.Methods[:1], Issued: time.Now().UTC(), Expires: time.Now().UTC().Add(s.cfg.TokenTTL)}
	if proj != nil {
		t.ProjectID = proj.ID
	}
	tokID := s.issueToken(t)
	c.w.Header().Set("X-Subject-Token", tokID)
	c.json(201, map[string]any{"token": s.v3TokenBody(c, t)})
}

// v3Identify is the user a v3 request proves to be by its first method;
// an application credential also fixes the project (fixed).
func (s *Handler) v3Identify(id v3Identity) (u *User, proj *Project, fixed bool, f *ksFault) {
	switch id.Methods[0] {
	case "password":
		if id.Password == nil {
			return nil, nil, false, ksBadRequest("Expecting to find password in identity.")
		}
		pu := id.Password.User
		if pu.ID != "" {
			u = s.userByID(pu.ID)
		} else {
			did, dname := pu.domain()
			if did == "" && dname == "" {
				return nil, nil, false, ksBadRequest("Expecting to find domain in user.")
			}
			u = s.userByName(pu.Name, did, dname)
		}
		if u == nil || !hmac.Equal([]byte(u.Password), []byte(pu.Password)) {
			return nil, nil, false, ksDenied
		}
		return u, nil, false, nil
	case "application_credential":
		ac := id.AppCred
		if ac == nil {
			return nil, nil, false, ksBadRequest("Expecting to find application_credential in identity.")
		}
		var found *AppCredential
		for i := range s.cfg.AppCredentials {
			a := &s.cfg.AppCredentials[i]
			if (ac.ID != "" && a.ID == ac.ID) || (ac.ID == "" && ac.Name != "" && a.Name == ac.Name) {
				found = a
			}
		}
		if found == nil || !hmac.Equal([]byte(found.Secret), []byte(ac.Secret)) {
			return nil, nil, false, ksDenied
		}
		return s.userByID(found.UserID), s.project(found.ProjectID), true, nil
	case "token":
		if id.Token == nil {
			return nil, nil, false, ksDenied
		}
		t := s.parseToken(id.Token.ID)
		if t == nil {
			return nil, nil, false, ksDenied
		}
		return s.userByID(t.UserID), nil, false, nil
	}
	return nil, nil, false, ksDenied
}

// v3Scope is the project a request scopes its token to: the one it names
// (which u must have), or without a scope u's default project.
func (s *Handler) v3Scope(raw json.RawMessage, u *User) (*Project, *ksFault) {
	if len(raw) == 0 || string(raw) == "null" {
		if len(u.Projects) > 0 {
			return s.project(u.Projects[0]), nil // the user's default project
		}
		return nil, nil
	}
	var scope struct {
		Project *v3Ref `json:"project"`
	}
	if json.Unmarshal(raw, &scope) != nil {
		return nil, ksBadRequest("Malformed scope.")
	}
	if scope.Project == nil {
		return nil, nil
	}
	var proj *Project
	if scope.Project.ID != "" {
		proj = s.project(scope.Project.ID)
	} else {
		did, dname := scope.Project.domain()
		proj = s.projectByName(scope.Project.Name, did, dname)
	}
	if proj == nil || !userHasProject(u, proj.ID) {
		return nil, ksDenied
	}
	return proj, nil
}

func (s *Handler) v3TokenBody(c *call, t token) map[string]any {
	u := s.userByID(t.UserID)
	body := map[string]any{
		"methods":    t.Methods,
		"issued_at":  t.Issued.Format("2006-01-02T15:04:05.000000Z"),
		"expires_at": t.Expires.Format("2006-01-02T15:04:05.000000Z"),
		"audit_ids":  []string{newID()[:22]},
		"user": map[string]any{"id": u.ID, "name": u.Name, "password_expires_at": nil,
			"domain": map[string]any{"id": u.DomainID, "name": s.domainName(u.DomainID)}},
		"is_domain": false,
	}
	if p := s.project(t.ProjectID); p != nil {
		body["project"] = map[string]any{"id": p.ID, "name": p.Name,
			"domain": map[string]any{"id": p.DomainID, "name": s.domainName(p.DomainID)}}
		roles := []any{}
		for _, r := range u.Roles {
			roles = append(roles, map[string]any{"id": r, "name": r})
		}
		body["roles"] = roles
		cat := []any{}
		for _, svc := range s.catalog(c.baseURL(), p.ID) {
			eps := []any{}
			for _, iface := range []string{"public", "internal", "admin"} {
				eps = append(eps, map[string]any{
					"id": svc.typ + "-" + iface, "interface": iface, "region": s.cfg.Region,
					"region_id": s.cfg.Region, "url": svc.url,
				})
			}
			cat = append(cat, map[string]any{"id": svc.typ, "type": svc.typ, "name": svc.name, "endpoints": eps})
		}
		body["catalog"] = cat
	}
	return body
}

// validateV3 is GET/HEAD /auth/tokens: the caller's token must be valid; the
// token described is X-Subject-Token.
func (s *Handler) validateV3(c *call) {
	if s.parseToken(c.r.Header.Get("X-Auth-Token")) == nil {
		unauthorized(c)
		return
	}
	t := s.parseToken(c.r.Header.Get("X-Subject-Token"))
	if t == nil {
		keystoneError(c.w, 404, "Not Found", "Could not find token.")
		return
	}
	c.w.Header().Set("X-Subject-Token", c.r.Header.Get("X-Subject-Token"))
	c.json(200, map[string]any{"token": s.v3TokenBody(c, *t)})
}
