package emulator

import "testing"

func TestMotoErrorEnvelopeRecognisesOnlyMotosAuthorisationErrors(t *testing.T) {
	tests := []struct {
		name        string
		body        string
		wantCode    string
		wantMessage string
		wantOK      bool
	}{
		{
			name: "moto authorisation error",
			body: `<?xml version="1.0" encoding="utf-8"?>
<ErrorResponse><Errors><Error><Code>AccessDenied</Code><Message>User: arn:aws:iam::123456789012:user/x is not authorized to perform: iam:ListRoles</Message><Type>Sender</Type></Error></Errors></ErrorResponse>`,
			wantCode:    "AccessDenied",
			wantMessage: "User: arn:aws:iam::123456789012:user/x is not authorized to perform: iam:ListRoles",
			wantOK:      true,
		},
		{
			name: "AWS query error",
			body: `<ErrorResponse><Error><Type>Sender</Type><Code>NoSuchEntity</Code><Message>Role x not found</Message></Error><RequestId>r</RequestId></ErrorResponse>`,
		},
		{
			name: "S3 error",
			body: `<?xml version="1.0" encoding="UTF-8"?><Error><Code>AccessDenied</Code><Message>Access Denied</Message></Error>`,
		},
		{name: "JSON error", body: `{"__type": "AccessDeniedException", "message": "no"}`},
		{name: "HTML error page", body: `<!doctype html><html><title>500 Internal Server Error</title><p>Errors</p></html>`},
		{name: "envelope without a code", body: `<ErrorResponse><Errors><Error><Message>m</Message></Error></Errors></ErrorResponse>`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, message, ok := motoErrorEnvelope([]byte(tt.body))
			if code != tt.wantCode || message != tt.wantMessage || ok != tt.wantOK {
				t.Errorf("motoErrorEnvelope = %q, %q, %v; want %q, %q, %v", code, message, ok, tt.wantCode, tt.wantMessage, tt.wantOK)
			}
		})
	}
}
