"""Run moto's server with rolecall's trust-policy fixes.

moto (pinned in tools/requirements.txt) evaluates role trust policies in a
way that differs from AWS in three places that rolecall depends on; this
launcher patches exactly those before starting the unmodified server.
Each fix makes moto stricter or closer to AWS, never looser, and each is
pinned by a test in internal/emulator (moto_behaviour_test.go):

1. Cross-account AssumeRole: moto looks the target role up in the caller's
   own account, does not find it, and then skips the trust policy entirely,
   so any caller may assume a role in another account. Here the role is
   looked up in its own account and its trust policy is always checked.
2. Principal matching: moto tests a string principal with a substring
   match ("user/alice" matches "user/alice-admin"), denies the sessions of
   a role whose ARN is the principal, and denies account-root principals.
   Here a principal matches as in AWS: exactly, as "*", as the role of an
   assumed-role session, or as the root of the caller's account.
3. Statements: moto denies when any trust statement names a principal
   other than the caller, so a second statement breaks the first. Here
   statements that do not apply are skipped, an applying Deny wins, and
   otherwise an applying Allow allows. A statement whose Principal is of
   another kind (Service, Federated) never matches an AWS caller.

It also makes service-managed StackSet instances land where AWS puts them:

4. In every account of the target OUs and of all their descendant OUs
   (moto goes one level down only), and never in the organization's
   management account (moto deploys there when the root is a target; AWS
   never does, the management account needs its own stack).

And it makes updates reach what they update:

5. UpdateStackSet updates the resources of every instance (moto keeps the
   new parameters but leaves the instances' resources as they were).
6. A stack update that changes a role's AssumeRolePolicyDocument changes
   the role's trust policy in place, as AWS does (moto ignores it).

And it authorises one S3 call by the action IAM knows:

7. HeadBucket needs s3:ListBucket, as in AWS (moto asks for an action
   "s3:HeadBucket" that IAM does not have, so no real policy allows it).
8. Secrets Manager, CloudFormation and IAM policy calls are authorised
   against the secret, stack, StackSet or managed policy they name. Moto authorises every call of
   these services against the resource "*", so a policy scoped to one
   secret or StackSet (least privilege, as the onboarding function's role
   is) was never allowed anything. DynamoDB calls likewise, against the
   table they name. A call that names no resource moto
   knows is still checked against "*". And AssumeRole of a role that does
   not exist is denied, as in AWS (moto let the caller's own policy decide).

And it evaluates identity policies as IAM does in the ways rolecall's
policies depend on:

9. Action names match case-insensitively, "*" and "?" as IAM's
   wildcards and nothing else (moto builds a regular expression from the
   pattern); NotAction and NotResource are honoured.
10. Conditions are evaluated: an Allow whose condition does not hold does
   not apply (moto turns it into an explicit Deny when it can evaluate it,
   and ignores it otherwise, so a condition never limited anything). The
   string operators, their IfExists forms, and the context key s3:prefix
   of ListBucket are known; an Allow with an operator or key this cannot
   evaluate does not apply, a Deny with one applies: what cannot be
   evaluated never grants.

And it enforces the quotas AWS enforces, so a template that would fail
on AWS fails here too:

11. IAM: a role's trust policy up to 2,048 characters, a role's inline
    policies together up to 10,240, a managed policy up to 6,144, white
    space not counted (LimitExceeded, with AWS's message).
12. CloudFormation: a StackSet's TemplateBody up to 51,200 bytes
    (ValidationError).

And it plays the parts of AWS that rolecall's options rely on:

13. StackSet account filters: DeploymentTargets with AccountFilterType
    INTERSECTION (only the listed Accounts of the OUs) or DIFFERENCE (the
    OUs without them); moto ignores the filter.
14. CallAs DELEGATED_ADMIN: a registered delegated administrator for
    CloudFormation StackSets (member.org.stacksets.cloudformation.amazonaws.com,
    which moto would not register) works on the StackSets of the
    management account, which owns them, as AWS does; any other account
    is refused (ValidationError, "Account used is not a delegated
    administrator", as AWS answers). A member account that is a delegated
    administrator lists the organization's delegated administrators, as
    AWS lets it (moto answers from the member's own, empty, backend).
15. S3 regions: a bucket is answered only in its own region; a request
    signed for another region gets 301 PermanentRedirect naming the
    bucket's region in x-amz-bucket-region (moto answers from anywhere).
16. SSE-KMS: GetObject of an object encrypted with a KMS key needs
    kms:Decrypt on that key, with kms:ViaService s3.<region>.amazonaws.com
    in the request context, as AWS requires; denied, S3 answers 403
    AccessDenied naming kms:Decrypt. (Key policies are not modelled: the
    key is taken to let IAM policies grant its use, as the default key
    policy does.)
17. Permissions boundaries: a role's boundary limits what its sessions
    may do (moto ignores it): an action must be allowed by the role's
    policies and by the boundary, and a Deny in either wins.

And it updates stacks as CloudFormation does when only parameters change:

18. A resource that names a changed parameter anywhere (also inside an
    Fn::Sub string) is updated, not only one with a Ref to it; a resource
    whose Condition turns false is deleted, one whose Condition turns true
    is created (moto updates neither, so a nested stack or StackSet kept
    its old policies).

And it serves faster, without changing what it answers:

19. No access log line per request unless ROLECALL_MOTO_ACCESS_LOG=1
    (writing it took a tenth of the server's time), and the list of
    moto's service packages, which moto re-reads from disk on every
    request to route it, is read once.

Usage: python tools/moto/server.py -H 127.0.0.1 -p PORT
"""

import json
import os
import re
import sys
from urllib.parse import parse_qs, urlparse

from moto.cloudformation import models as cfn_models
from moto.cloudformation import parsing as cfn_parsing
from moto.iam import access_control as ac
from moto.iam import models as iam_models
from moto.iam import responses as iam_responses
from moto.iam.models import iam_backends
from moto.utilities.utils import get_partition
from moto.iam.exceptions import NotFoundException
from moto.iam import exceptions as iam_exceptions
from moto.cloudformation import exceptions as cfn_exceptions
from moto.cloudformation import responses as cfn_responses
from moto.s3 import responses as s3_responses
from moto.secretsmanager import responses as sm_responses
from moto.dynamodb import responses as ddb_responses
from moto.server import main
from moto import settings as moto_settings
from moto.core.authorization import ActionAuthenticatorMixin
from moto.organizations import models as org_models
from moto.s3 import exceptions as s3_exceptions

_ASSUMED = re.compile(r"^arn:([^:]+):sts::(\d{12}):assumed-role/([^/]+)/[^/]+$")
_ROLE_ARN = re.compile(r"^arn:([^:]+):iam::(\d{12}):role/(?:.*/)?([^/]+)$")


def _role_in_its_own_account(request, role_arn):
    m = _ROLE_ARN.match(role_arn)
    if not m:
        return None
    partition, account = m.group(1), m.group(2)
    try:
        return iam_backends[account][partition].get_role_by_arn(role_arn)
    except (NotFoundException, KeyError):
        return None


def _is_assuming_role_operation(self, resource_arn):
    # Every AssumeRole of a role ARN checks the role's trust policy; a role
    # that does not exist has none, so the check denies.
    if ":role" not in resource_arn.lower():
        return False
    return self._action in ac.REQUIRE_RESOURCE_ACCESS_POLICIES_CHECK


def _check_role_trust_relationship(self, role_arn):
    """Evaluate the trust policy as AWS does: a statement whose action,
    principal or conditions do not apply is skipped (moto denies outright
    when any statement names another principal); an applying Deny wins;
    otherwise an applying Allow allows."""
    role = _role_in_its_own_account(self, role_arn)
    if role is None:
        return False
    document = role.assume_role_policy_document
    if isinstance(document, str):
        document = json.loads(document)
    statements = document.get("Statement", [])
    if isinstance(statements, dict):
        statements = [statements]
    caller = self._access_key.arn
    conditions = ac.format_incoming_conditional_values(self._data)
    allowed = False
    for raw in statements:
        statement = ac.IAMPolicyStatement(raw)
        if "Action" not in raw or not statement._check_element_matches("Action", self._action):
            continue
        if not _check_principal(statement, caller):
            continue
        if not statement._check_conditions(conditions):
            continue
        if raw.get("Effect") == "Deny":
            return False
        allowed = raw.get("Effect") == "Allow" or allowed
    return allowed


def _principal_matches(expected, caller):
    if expected == "*" or expected == caller:
        return True
    session = _ASSUMED.match(caller)
    if session:
        partition, account, role = session.groups()
        role_arn = _ROLE_ARN.match(expected)
        if role_arn and role_arn.groups() == (partition, account, role):
            return True
    caller_account = caller.split(":")[4] if caller.count(":") >= 5 else None
    if caller_account and expected in (
        caller_account,
        f"arn:{caller.split(':')[1]}:iam::{caller_account}:root",
    ):
        return True
    return False


def _check_principal(self, principal):
    expected = self._statement.get("Principal")
    if not expected:
        return True
    if expected == "*":
        return True
    if not isinstance(expected, dict) or "AWS" not in expected:
        return False
    aws = expected["AWS"]
    candidates = aws if isinstance(aws, list) else [aws]
    return any(_principal_matches(c, principal) for c in candidates)


_original_create_instances = cfn_models.StackInstances.create_instances


def _create_instances(self, accounts, regions, parameters, deployment_targets, permission_model):
    requested = list((deployment_targets or {}).get("OrganizationalUnitIds", []))
    filter_type = (deployment_targets or {}).get("AccountFilterType") or "NONE"
    listed = set((deployment_targets or {}).get("Accounts") or [])
    if permission_model != "SERVICE_MANAGED" or not requested:
        return _original_create_instances(self, accounts, regions, parameters, deployment_targets, permission_model)
    org = self.org_backend
    targets = set(requested)
    grew = True
    while grew:
        children = {ou.id for ou in org.ou if ou.parent_id in targets}
        grew = not children <= targets
        targets |= children
    management = org.org.master_account_id if org.org else None
    member_accounts = [
        a.id for a in org.accounts if a.parent_id in targets and a.id != management
    ]
    if filter_type == "INTERSECTION":
        member_accounts = [a for a in member_accounts if a in listed]
    elif filter_type == "DIFFERENCE":
        member_accounts = [a for a in member_accounts if a not in listed]
    # Hand moto plain accounts: it creates an instance for each, and skips
    # the ones that exist already.
    return _original_create_instances(
        self, ([] if filter_type != "NONE" else list(accounts or [])) + member_accounts, regions, parameters, {}, permission_model
    )


cfn_models.StackInstances.create_instances = _create_instances

s3_responses.ACTION_MAP["BUCKET"]["HEAD"]["DEFAULT"] = "ListBucket"


def _secret_resource(self):
    secret_id = self._get_param("SecretId")
    if not secret_id:
        return "*"
    if secret_id.startswith("arn:"):
        return secret_id
    try:
        return self.backend.describe_secret(secret_id).arn
    except Exception:  # an unknown secret: moto answers the call as before
        return "*"


def _cloudformation_resource(self):
    backend = self.cloudformation_backend
    stack_set = self._get_param("StackSetName")
    if stack_set:
        try:
            return backend.describe_stack_set(stack_set).arn
        except Exception:
            return "*"
    stack = self._get_param("StackName")
    if stack:
        if stack.startswith("arn:"):
            return stack
        try:
            return backend.get_stack(stack).stack_id
        except Exception:
            return "*"
    return "*"


_original_iam_resource = iam_responses.IamResponse._determine_resource


def _iam_resource(self):
    resource = _original_iam_resource(self)
    if resource != "*":
        return resource
    for key in ("PolicyArn", "PolicySourceArn"):
        value = self.data.get(key)
        if value:
            return value[0]
    return "*"


def _dynamodb_resource(self):
    body = self.body if isinstance(self.body, dict) else {}
    name = body.get("TableName")
    if not name and isinstance(body.get("RequestItems"), dict) and body["RequestItems"]:
        name = sorted(body["RequestItems"])[0]
    if not name:
        return "*"
    if str(name).startswith("arn:"):
        return name
    return f"arn:{get_partition(self.region)}:dynamodb:{self.region}:{self.current_account}:table/{name}"


ddb_responses.DynamoHandler._determine_resource = _dynamodb_resource
iam_responses.IamResponse._determine_resource = _iam_resource
sm_responses.SecretsManagerResponse._determine_resource = _secret_resource
cfn_responses.CloudFormationResponse._determine_resource = _cloudformation_resource

_original_stackset_update = cfn_models.StackSet.update


def _stackset_update(self, template, description, parameters, tags, admin_role, execution_role, accounts, regions, operation_id):
    result = _original_stackset_update(
        self, template, description, parameters, tags, admin_role, execution_role, accounts, regions, operation_id
    )
    values = dict(self.parameters or {})
    self.instances.template = self.template
    self.instances.parameters = values
    for instance in self.instances.stack_instances:
        if accounts and instance.account_id not in accounts:
            continue
        instance.template = self.template
        instance.parameters = [{"ParameterKey": k, "ParameterValue": v} for k, v in values.items()]
        if instance.permission_model == "SERVICE_MANAGED":
            instance.stack.update(self.template, parameters=values)
    return result


cfn_models.StackSet.update = _stackset_update

_original_role_update = iam_models.Role.update_from_cloudformation_json.__func__


def _role_update(cls, original_resource, new_resource_name, cloudformation_json, account_id, region_name):
    role = _original_role_update(cls, original_resource, new_resource_name, cloudformation_json, account_id, region_name)
    trust = cloudformation_json.get("Properties", {}).get("AssumeRolePolicyDocument")
    if trust is not None:
        backend = iam_backends[account_id][get_partition(region_name)]
        backend.update_assume_role_policy(role.name, trust if isinstance(trust, str) else json.dumps(trust))
    return role


iam_models.Role.update_from_cloudformation_json = classmethod(_role_update)
ac.IAMRequestBase._is_assuming_role_operation = _is_assuming_role_operation
ac.IAMRequestBase._check_role_trust_relationship = _check_role_trust_relationship
ac.IAMPolicyStatement._check_principal = _check_principal

def _glob(pattern, value, fold):
    """IAM's matching: "*" any run of characters, "?" any one."""
    if fold:
        pattern, value = pattern.lower(), value.lower()
    rx = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.fullmatch(rx, value, re.DOTALL) is not None


def _as_list(v):
    return v if isinstance(v, list) else [v]


def _request_context(req):
    """The condition keys rolecall's policies use, as the request sets them."""
    ctx = {}
    if getattr(req, "_via_service", None):
        ctx["kms:ViaService"] = req._via_service
    if req._action.lower() == "s3:listbucket":
        query = parse_qs(urlparse(req._path).query, keep_blank_values=True)
        if "prefix" in query:
            ctx["s3:prefix"] = query["prefix"][0]
    return ctx


_STRING_OPS = {
    "StringEquals": (lambda v, e: v == e, False),
    "StringNotEquals": (lambda v, e: v == e, True),
    "StringEqualsIgnoreCase": (lambda v, e: v.lower() == e.lower(), False),
    "StringNotEqualsIgnoreCase": (lambda v, e: v.lower() == e.lower(), True),
    "StringLike": (lambda v, e: _glob(e, v, False), False),
    "StringNotLike": (lambda v, e: _glob(e, v, False), True),
}

# The keys this evaluator knows how to find in a request; a condition on
# any other key cannot be evaluated.
_KNOWN_KEYS = {"s3:prefix", "kms:viaservice"}


def _conditions_hold(conditions, ctx):
    """True or False as IAM decides, None when it cannot be evaluated."""
    lowered = {k.lower(): v for k, v in ctx.items()}
    for op, pairs in conditions.items():
        name, if_exists = (op[: -len("IfExists")], True) if op.endswith("IfExists") else (op, False)
        if name not in _STRING_OPS or not isinstance(pairs, dict):
            return None
        match, negated = _STRING_OPS[name]
        for key, expected in pairs.items():
            if key.lower() not in _KNOWN_KEYS:
                return None
            if key.lower() not in lowered:
                if if_exists or negated:
                    continue
                return False
            value = lowered[key.lower()]
            hit = any(match(value, str(e)) for e in _as_list(expected))
            if hit == negated:
                return False
    return True


def _statement_effect(st, action, resource, ctx):
    if "NotAction" in st:
        if any(_glob(a, action, True) for a in _as_list(st["NotAction"])):
            return None
    elif not any(_glob(a, action, True) for a in _as_list(st.get("Action", []))):
        return None
    if "NotResource" in st:
        if any(_glob(r, resource, False) for r in _as_list(st["NotResource"])):
            return None
    elif "Resource" in st and not any(_glob(r, resource, False) for r in _as_list(st["Resource"])):
        return None
    effect = st.get("Effect")
    conditions = st.get("Condition")
    if conditions:
        holds = _conditions_hold(conditions, ctx)
        if holds is None:
            return "Deny" if effect == "Deny" else None
        if not holds:
            return None
    return effect


def _check_action_permitted(self, resource):
    if self._action == "sts:GetCallerIdentity":
        return  # always allowed, even with an explicit Deny
    ctx = _request_context(self)
    permitted = False
    for policy in self._access_key.collect_policies():
        document = ac.IAMPolicy(policy)._policy_json
        for st in _as_list(document.get("Statement", [])):
            if not isinstance(st, dict):
                continue
            effect = _statement_effect(st, self._action, resource, ctx)
            if effect == "Deny":
                self._raise_access_denied()
            if effect == "Allow":
                permitted = True
    if permitted and not _boundary_allows(self, resource, ctx):
        permitted = False
    if self._is_assuming_role_operation(resource):
        permitted = permitted and self._check_role_trust_relationship(resource)
    if not permitted:
        self._raise_access_denied()


def _boundary_allows(req, resource, ctx):
    """17: a role session may do only what its role's boundary allows."""
    key = req._access_key
    role_name = getattr(key, "_owner_role_name", None)
    if role_name is None:
        return True
    try:
        role = key.backend.get_role(role_name)
        arn = role.permissions_boundary_arn
        if not arn:
            return True
        policy = key.backend.get_policy(arn)
    except Exception:
        return False  # a boundary that cannot be read allows nothing
    allowed = False
    for st in _as_list(ac.IAMPolicy(policy)._policy_json.get("Statement", [])):
        if not isinstance(st, dict):
            continue
        effect = _statement_effect(st, req._action, resource, ctx)
        if effect == "Deny":
            return False
        if effect == "Allow":
            allowed = True
    return allowed


ac.IAMRequestBase.check_action_permitted = _check_action_permitted


# 18: parameter-only stack updates reach every resource they change.
def _mentions(obj, names):
    text = json.dumps(obj)
    return any(f'"{n}"' in text or "${" + n + "}" in text for n in names)


_original_resource_diff = cfn_parsing.ResourceMap.build_resource_diff


def _build_resource_diff(self, other_template, parameters=None):
    result = _original_resource_diff(self, other_template, parameters)
    if not parameters:
        return result
    changed = [p for p in parameters if self.input_parameters.get(p) != parameters[p]]
    if not changed:
        return result
    old = self._resource_json_map
    for name, resource in other_template["Resources"].items():
        if name in old and name not in result["Modify"] and (_mentions(resource, changed) or "Condition" in resource):
            result["Modify"].append(name)
    return result


_original_parse_and_update = cfn_parsing.parse_and_update_resource


def _parse_and_update(logical_id, resource_json, resources_map, account_id, region_name):
    condition = resource_json.get("Condition")
    existing = resources_map._parsed_resources.get(logical_id)
    if condition and not resources_map.lazy_condition_map[condition]:
        if existing is not None:
            resources_map._delete_resource(existing, resource_json)
            resources_map._parsed_resources.pop(logical_id, None)
        return None
    if existing is None:
        resources_map._parsed_resources.pop(logical_id, None)
        return cfn_parsing.parse_and_create_resource(logical_id, resource_json, resources_map, account_id, region_name)
    return _original_parse_and_update(logical_id, resource_json, resources_map, account_id, region_name)


cfn_parsing.ResourceMap.build_resource_diff = _build_resource_diff
cfn_parsing.parse_and_update_resource = _parse_and_update


# 13 and 14: delegated administrators for StackSets.
STACKSETS_PRINCIPAL = "member.org.stacksets.cloudformation.amazonaws.com"
if STACKSETS_PRINCIPAL not in org_models.FakeDelegatedAdministrator.SUPPORTED_SERVICES:
    org_models.FakeDelegatedAdministrator.SUPPORTED_SERVICES.append(STACKSETS_PRINCIPAL)


_original_list_delegated = org_models.OrganizationsBackend.list_delegated_administrators


def _list_delegated(self, **kwargs):
    owner = org_models.organizations_backends.master_accounts.get(self.account_id)
    if owner and owner[0] != self.account_id:
        master = org_models.organizations_backends[owner[0]][owner[1]]
        if any(a.account.id == self.account_id for a in master.admins):
            return _original_list_delegated(master, **kwargs)
    return _original_list_delegated(self, **kwargs)


org_models.OrganizationsBackend.list_delegated_administrators = _list_delegated


def _cloudformation_backend(self):
    account = self.current_account
    if self._get_param("CallAs") == "DELEGATED_ADMIN":
        backends = org_models.organizations_backends
        # A member account's organization lives in its management
        # account's backend.
        management, partition = backends.master_accounts.get(account, (None, None))
        org = backends[management][partition] if management else None
        admin = next((a for a in (org.admins if org else []) if a.account.id == account), None)
        if admin is None or STACKSETS_PRINCIPAL not in admin.services:
            raise _NotDelegated()
        account = management
    return cfn_models.cloudformation_backends[account][self.region]


class _NotDelegated(Exception):
    """CallAs DELEGATED_ADMIN from an account that is not one."""


_original_cfn_dispatch = cfn_responses.CloudFormationResponse.call_action


def _cfn_call_action(self):
    try:
        return _original_cfn_dispatch(self)
    except _NotDelegated:
        body = (
            '<ErrorResponse xmlns="http://cloudformation.amazonaws.com/doc/2010-05-15/"><Error><Type>Sender</Type>'
            "<Code>ValidationError</Code><Message>Account used is not a delegated administrator</Message></Error>"
            "<RequestId>7a1b2c3d-0000-4000-8000-000000000000</RequestId></ErrorResponse>"
        )
        return 400, {"Content-Type": "text/xml"}, body


cfn_responses.CloudFormationResponse.call_action = _cfn_call_action


cfn_responses.CloudFormationResponse.cloudformation_backend = property(_cloudformation_backend)


# 15: a bucket answers in its own region only.
def _bucket_elsewhere(self, bucket_name):
    if not bucket_name:
        return None
    try:
        bucket = self.backend.get_bucket(bucket_name)
    except Exception:
        return None
    if bucket.region_name == self.region:
        return None
    body = (
        '<?xml version="1.0" encoding="UTF-8"?><Error><Code>PermanentRedirect</Code>'
        "<Message>The bucket you are attempting to access must be addressed using the specified endpoint. "
        "Please send all future requests to this endpoint.</Message>"
        f"<Endpoint>s3.{bucket.region_name}.amazonaws.com</Endpoint><Bucket>{bucket_name}</Bucket></Error>"
    )
    headers = {"x-amz-bucket-region": bucket.region_name, "content-type": "application/xml"}
    return 301, headers, "" if self.method == "HEAD" else body


_original_bucket_response = s3_responses.S3Response._bucket_response


def _bucket_response(self, request, full_url):
    moved = _bucket_elsewhere(self, self.parse_bucket_name_from_url(request, full_url))
    if moved is not None:
        return moved
    return _original_bucket_response(self, request, full_url)


_original_key_response = s3_responses.S3Response._key_response


def _key_response(self, request, full_url):
    moved = _bucket_elsewhere(self, self.parse_bucket_name_from_url(request, full_url))
    if moved is not None:
        return moved
    return _original_key_response(self, request, full_url)


s3_responses.S3Response._bucket_response = _bucket_response
s3_responses.S3Response._key_response = _key_response


# 16: reading an SSE-KMS object needs kms:Decrypt through S3.
class _KMSAccessDenied(s3_exceptions.S3ClientError):
    def __init__(self, caller, key_arn):
        super().__init__(
            "AccessDenied",
            f"User: {caller} is not authorized to perform: kms:Decrypt on resource: {key_arn} "
            "because no identity-based policy allows the kms:Decrypt action",
        )


def _auth_on():
    return ActionAuthenticatorMixin.request_count >= moto_settings.INITIAL_NO_AUTH_ACTION_COUNT


_original_get_object = s3_responses.S3Response.get_object


def _get_object(self):
    key, _ = self._get_key()
    if getattr(key, "encryption", None) == "aws:kms" and key.kms_key_id and _auth_on():
        bucket = self.backend.get_bucket(self.bucket_name)
        key_arn = key.kms_key_id
        if not key_arn.startswith("arn:"):
            key_arn = f"arn:{get_partition(bucket.region_name)}:kms:{bucket.region_name}:{bucket.account_id}:key/{key_arn}"
        req = ac.S3IAMRequest(
            account_id=self.current_account, method=self.method, path=self.raw_path,
            data=self.data, body=self.raw_body, headers=self.headers, action="GetObject",
        )
        req._action = "kms:Decrypt"
        req._via_service = f"s3.{bucket.region_name}.amazonaws.com"
        try:
            _check_action_permitted(req, key_arn)
        except s3_exceptions.S3ClientError:
            raise _KMSAccessDenied(getattr(req._access_key, "arn", "the caller"), key_arn)
    return _original_get_object(self)


s3_responses.S3Response.get_object = _get_object

TRUST_POLICY_QUOTA = 2048
ROLE_INLINE_QUOTA = 10240
MANAGED_POLICY_QUOTA = 6144
TEMPLATE_BODY_QUOTA = 51200


def _policy_chars(document):
    """The size IAM counts: the document without white space."""
    try:
        parsed = json.loads(document) if isinstance(document, str) else document
        return len(json.dumps(parsed, separators=(",", ":"), ensure_ascii=False))
    except (TypeError, ValueError):
        return len(re.sub(r"\s", "", str(document)))


def _check_trust(document):
    if _policy_chars(document) > TRUST_POLICY_QUOTA:
        raise iam_exceptions.LimitExceededException(f"Cannot exceed quota for ACLSizePerRole: {TRUST_POLICY_QUOTA}")


def _check_managed(document):
    if _policy_chars(document) > MANAGED_POLICY_QUOTA:
        raise iam_exceptions.LimitExceededException(f"Cannot exceed quota for PolicySize: {MANAGED_POLICY_QUOTA}")


_original_create_role = iam_models.IAMBackend.create_role


def _create_role(self, role_name, assume_role_policy_document, *args, **kwargs):
    _check_trust(assume_role_policy_document)
    return _original_create_role(self, role_name, assume_role_policy_document, *args, **kwargs)


_original_update_trust = iam_models.IAMBackend.update_assume_role_policy


def _update_trust(self, role_name, policy_document):
    _check_trust(policy_document)
    return _original_update_trust(self, role_name, policy_document)


_original_role_put_policy = iam_models.Role.put_policy


def _role_put_policy(self, policy_name, policy_json):
    total = _policy_chars(policy_json) + sum(
        _policy_chars(doc) for name, doc in self.policies.items() if name != policy_name
    )
    if total > ROLE_INLINE_QUOTA:
        raise iam_exceptions.LimitExceededException(
            f"Maximum policy size of {ROLE_INLINE_QUOTA} bytes exceeded for role {self.name}"
        )
    return _original_role_put_policy(self, policy_name, policy_json)


_original_create_policy = iam_models.IAMBackend.create_policy


def _create_policy(self, description, path, policy_document, *args, **kwargs):
    _check_managed(policy_document)
    return _original_create_policy(self, description, path, policy_document, *args, **kwargs)


_original_create_policy_version = iam_models.IAMBackend.create_policy_version


def _create_policy_version(self, policy_arn, policy_document, set_as_default):
    _check_managed(policy_document)
    return _original_create_policy_version(self, policy_arn, policy_document, set_as_default)


def _check_template_body(template):
    if template is not None and len(template.encode("utf-8")) > TEMPLATE_BODY_QUOTA:
        raise cfn_exceptions.ValidationError(
            message=f"1 validation error detected: Value at 'templateBody' failed to satisfy constraint: Member must have length less than or equal to {TEMPLATE_BODY_QUOTA}"
        )


_original_create_stack_set = cfn_models.CloudFormationBackend.create_stack_set


def _create_stack_set(self, name, template, *args, **kwargs):
    _check_template_body(template)
    return _original_create_stack_set(self, name, template, *args, **kwargs)


_original_update_stack_set = cfn_models.CloudFormationBackend.update_stack_set


def _update_stack_set(self, stackset_name, template, *args, **kwargs):
    _check_template_body(template)
    return _original_update_stack_set(self, stackset_name, template, *args, **kwargs)


iam_models.IAMBackend.create_role = _create_role
iam_models.IAMBackend.update_assume_role_policy = _update_trust
iam_models.Role.put_policy = _role_put_policy
iam_models.IAMBackend.create_policy = _create_policy
iam_models.IAMBackend.create_policy_version = _create_policy_version
cfn_models.CloudFormationBackend.create_stack_set = _create_stack_set
cfn_models.CloudFormationBackend.update_stack_set = _update_stack_set

# 19. Per-request overhead.
from moto import backends as _backends  # noqa: E402
from moto.moto_server import werkzeug_app as _werkzeug_app  # noqa: E402

_MODULES = tuple(_backends.list_of_moto_modules())
_backends.list_of_moto_modules = lambda: _MODULES

if os.environ.get("ROLECALL_MOTO_ACCESS_LOG") != "1":
    _werkzeug_app.MotoRequestHandler.log_request = lambda self, code="-", size="-": None

if __name__ == "__main__":
    sys.exit(main())
