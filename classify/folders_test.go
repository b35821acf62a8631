package classify

import "testing"

func TestFolderRole(t *testing.T) {
	for _, tc := range []struct {
		name, attrs string
		want        Role
	}{
		{"Sent", "", RoleSent},
		{"Gesendete Elemente", "", RoleSent},
		{"Entwürfe", "", RoleDrafts},
		{"Junk", "", RoleJunk},
		{"Spam", "", RoleJunk},
		{"INBOX/Sent", "", RoleSent}, // Courier and Cyrus nest everything under INBOX
		// A subfolder the user made is ordinary mail, whatever its name.
		{"Newsletters/Entwürfe", "", RoleMail},
		{"Archive/Sent", "", RoleMail},
		{"Clients/Spam", "", RoleMail},
		// The server's SPECIAL-USE attributes decide, at any depth.
		{"Newsletters/Entwürfe", `\HasNoChildren`, RoleMail},
		{"Mail/Gesendet", `\HasNoChildren \Sent`, RoleSent},
		{"Outbox", `\Drafts`, RoleDrafts},
		{"Bulk", `\Junk`, RoleJunk},
		{"Sent", `\Archive`, RoleMail}, // announced as something else
		{"INBOX", "", RoleMail},
	} {
		if got := folderRole(tc.name, tc.attrs); got != tc.want {
			t.Errorf("folderRole(%q, %q) = %q, want %q", tc.name, tc.attrs, got, tc.want)
		}
	}
}
