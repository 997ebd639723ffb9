package openstack

import (
	"encoding/json"
	"strings"
)

// volumeAction serves POST /volumes/{id}/action. Besides the user actions
// (os-extend, os-volume_upload_image) it accepts the calls Nova and admins
// make to Cinder, so tools that drive attach by hand work too.
func (s *Handler) volumeAction(c *call) {
	var body map[string]json.RawMessage
	if e := c.decode(&body); e != nil {
		c.fail(e)
		return
	}
	if len(body) != 1 {
		c.fail(errBadRequest("Malformed request body"))
		return
	}
	var name string
	var arg json.RawMessage
	for k, v := range body {
		name, arg = k, v
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	v, e := s.volume(c.scope(), c.r.PathValue("id"))
	if e != nil {
		c.fail(e)
		return
	}
	code, resp, e := s.runAction(c, v, name, arg)
	if e != nil {
		c.fail(e)
		return
	}
	c.persist()
	c.json(code, resp)
}

// scope is the project whose resources the call may name: an admin may name
// any project's (Cinder's admin context), "" here.
func (c *call) scope() string {
	if c.isAdmin() {
		return ""
	}
	return c.project
}

func (c *call) isAdmin() bool {
	if c.tok == nil {
		return false
	}
	u := c.s.userByID(c.tok.UserID)
	if u == nil {
		return false
	}
	for _, r := range u.Roles {
		if r == "admin" {
			return true
		}
	}
	return false
}

// action is one named action of POST /volumes/{id}/action and its raw
// argument.
type action struct {
	name string
	arg  json.RawMessage
}

// parse decodes the argument into dst; an absent or null one leaves dst.
func (a action) parse(dst any) *apiError { return parseArg(a.name, a.arg, dst) }

// adminOnly refuses a non-admin the admin actions, with Cinder's policy name.
func (a action) adminOnly(c *call) *apiError {
	return c.adminOnly("volume_extension:volume_admin_actions:" + strings.TrimPrefix(a.name, "os-"))
}

// volumeActionFunc serves one volume action on v (under s.mu): the status
// code and body of the answer, or the fault.
type volumeActionFunc func(s *Handler, c *call, v *Volume, a action) (int, any, *apiError)

// volumeActions are the volume actions by name: the user's
// (cinder_volume_actions.go) and those Nova and admins drive an attachment
// with (cinder_attach_actions.go).
var volumeActions = map[string]volumeActionFunc{
	"os-extend":               (*Handler).actExtend,
	"os-volume_upload_image":  (*Handler).actUploadImage,
	"os-set_bootable":         (*Handler).actSetBootable,
	"os-update_readonly_flag": (*Handler).actReadonly,
	"os-retype":               (*Handler).actRetype,
	"revert":                  (*Handler).actRevert,
	"os-set_image_metadata":   (*Handler).actSetImageMetadata,
	"os-unset_image_metadata": (*Handler).actUnsetImageMetadata,
	"os-show_image_metadata":  (*Handler).actShowImageMetadata,

	"os-reserve":               (*Handler).actReserve,
	"os-unreserve":             (*Handler).actUnreserve,
	"os-attach":                (*Handler).actAttach,
	"os-begin_detaching":       (*Handler).actBeginDetaching,
	"os-roll_detaching":        (*Handler).actRollDetaching,
	"os-detach":                (*Handler).actDetach,
	"os-initialize_connection": (*Handler).actInitializeConnection,
	"os-terminate_connection":  (*Handler).actTerminateConnection,
	"os-reset_status":          (*Handler).actResetStatus,
	"os-force_delete":          (*Handler).actForceDelete,
}

func (s *Handler) runAction(c *call, v *Volume, name string, arg json.RawMessage) (int, any, *apiError) {
	v.UpdatedAt = now()
	fn := volumeActions[name]
	if fn == nil {
		return 0, nil, errNoSuchAction(name)
	}
	return fn(s, c, v, action{name: name, arg: arg})
}

func errNoSuchAction(name string) *apiError {
	return errBadRequest("There is no such action: %s", name)
}
