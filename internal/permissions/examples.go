package permissions

// KindExample is a policy document that makes the gate report Kind, for
// tests that must cover every kind end to end (the gate, the verifier, the
// callback and the vendor's receiver) and for the documentation of kinds.
type KindExample struct {
	Kind     Kind
	Document Document
}

// KindExamples returns one example per kind of Kinds, in the same order.
// Each is a policy someone could attach to the vendor's role; only the
// statement that makes the finding is in it. The CUR scope they assume is
// no CUR bucket at all (a member account's role).
func KindExamples() []KindExample {
	allow := func(sid string, actions []string, resources ...string) DocStatement {
		if len(resources) == 0 {
			resources = []string{"*"}
		}
		return DocStatement{Sid: sid, Effect: "Allow", Action: actions, Resource: resources}
	}
	one := func(k Kind, s DocStatement) KindExample {
		return KindExample{Kind: k, Document: Document{Version: "2012-10-17", Statement: Statements{s}}}
	}
	return []KindExample{
		one(KindAllActions, allow("Admin", []string{"*"})),
		one(KindWildcardAction, allow("PutAnything", []string{"s3:Put*"})),
		one(KindNotAction, DocStatement{Sid: "AllButIAM", Effect: "Allow", NotAction: []string{"iam:*"}, Resource: []string{"*"}}),
		one(KindNotResource, DocStatement{Sid: "EverywhereElse", Effect: "Allow", Action: []string{"ce:GetCostAndUsage"}, NotResource: []string{"arn:aws:s3:::nothing"}}),
		one(KindNoAction, DocStatement{Sid: "Empty", Effect: "Allow", Resource: []string{"*"}}),
		one(KindBadEffect, DocStatement{Sid: "Maybe", Effect: "Permit", Action: []string{"ce:GetCostAndUsage"}, Resource: []string{"*"}}),
		one(KindMalformedAction, allow("NoService", []string{"GetObject"})),
		one(KindUnknownService, allow("NewService", []string{"nosuchservice:DescribeThings"})),
		one(KindUnknownAction, allow("NewAction", []string{"ce:GetCostAndUsageSomeday"})),
		one(KindWriteAction, allow("Terminate", []string{"ec2:TerminateInstances"})),
		one(KindActingRead, allow("Invoke", []string{"bedrock:InvokeModel"})),
		one(KindS3OutsideCUR, allow("Buckets", []string{"s3:ListBucket"}, "arn:aws:s3:::someone-elses-bucket")),
		one(KindContentReadWildcard, allow("Secrets", []string{"secretsmanager:GetSecretValue"}, "arn:aws:secretsmanager:us-east-1:111111111111:secret:*")),
		one(KindContentRead, allow("OneSecret", []string{"secretsmanager:GetSecretValue"}, "arn:aws:secretsmanager:us-east-1:111111111111:secret:app-??????")),
	}
}
