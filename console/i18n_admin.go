package console

import (
	"fmt"
	"slices"
	"strings"

	"github.com/b2bpay/b2bpay/admin"
	"github.com/b2bpay/b2bpay/payment"
)

func init() {
	for k, v := range adminMessages {
		messages[k] = v
	}
}

// AdminCode is an administration refusal's code in words: the area's own
// words where a code means something else for payments (wrong_role,
// not_found, already_decided), else the console's.
func (l Lang) AdminCode(code payment.Code) string {
	if _, ok := messages["admin.code."+string(code)]; ok {
		return l.T("admin.code." + string(code))
	}
	return l.Code(string(code))
}

// Role is a role in words.
func (l Lang) Role(r payment.Role) string {
	if _, ok := messages["role."+string(r)]; ok {
		return l.T("role." + string(r))
	}
	return string(r)
}

// roleOrder is the order roles are shown in: the approval's stages, then
// the others.
var roleOrder = []payment.Role{payment.RoleApplicant, payment.RoleReviewer, payment.RoleAuthorizer, payment.RoleAdmin, payment.RoleOperator}

// Roles are roles in words, in the approval's order, separated.
func (l Lang) Roles(rs []payment.Role) string {
	rs = slices.Clone(rs)
	slices.SortStableFunc(rs, func(a, b payment.Role) int {
		i, j := slices.Index(roleOrder, a), slices.Index(roleOrder, b)
		if i < 0 {
			i = len(roleOrder)
		}
		if j < 0 {
			j = len(roleOrder)
		}
		return i - j
	})
	out := make([]string, len(rs))
	for i, r := range rs {
		out[i] = l.Role(r)
	}
	sep := "、"
	if l == langEN {
		sep = ", "
	}
	return strings.Join(out, sep)
}

// ChangeState is a change's state in words.
func (l Lang) ChangeState(s admin.State) string {
	if _, ok := messages["admin.state."+string(s)]; ok {
		return l.T("admin.state." + string(s))
	}
	return string(s)
}

// Proposal says what a proposal does, in words; amounts grouped in the
// currency's minor units.
func (l Lang) Proposal(p admin.Proposal) string {
	switch p.Kind {
	case admin.KindRoles:
		return fmt.Sprintf(l.T("admin.what.roles"), p.UserID, l.Roles(p.Roles))
	case admin.KindLimit:
		return fmt.Sprintf(l.T("admin.what.limit"), p.UserID, p.Currency, groupAmount(payment.FormatAmount(p.MaxMinor, p.Currency)))
	case admin.KindTier:
		return fmt.Sprintf(l.T("admin.what.tier"), p.Currency, groupAmount(payment.FormatAmount(p.AboveMinor, p.Currency)), p.Authorizers)
	case admin.KindActive:
		if p.Active {
			return fmt.Sprintf(l.T("admin.what.enable"), p.UserID)
		}
		return fmt.Sprintf(l.T("admin.what.disable"), p.UserID)
	}
	return string(p.Kind)
}

// adminMessages: the administration area's texts, key → {Chinese, English}.
var adminMessages = map[string][2]string{
	"admin.title":                 {"用户与权限管理", "Administration"},
	"admin.users":                 {"用户", "Users"},
	"admin.tiers":                 {"授权层级", "Approval tiers"},
	"admin.tiers.none":            {"未设置授权层级：每笔支付需 1 名授权人。", "No tiers: every payment needs 1 authorizer."},
	"admin.pending":               {"待审批的变更", "Changes waiting for approval"},
	"admin.pending.none":          {"没有待审批的变更。", "No change is waiting."},
	"admin.decided":               {"最近处理的变更", "Recently decided changes"},
	"admin.decided.none":          {"暂无。", "None yet."},
	"admin.dual":                  {"双人控制：任何变更由一名管理员提出，须由另一名管理员批准后才生效；%d 小时内未处理则失效。", "Dual control: every change proposed by one administrator takes effect only once a second administrator approves it; it expires after %d hours."},
	"admin.propose":               {"提出变更", "Propose a change"},
	"admin.col.user":              {"用户", "User"},
	"admin.col.name":              {"姓名", "Name"},
	"admin.col.roles":             {"角色", "Roles"},
	"admin.col.active":            {"状态", "Status"},
	"admin.col.limits":            {"审批限额", "Limits"},
	"admin.col.otp":               {"动态口令", "One-time password"},
	"admin.col.locks":             {"锁定", "Locks"},
	"admin.col.currency":          {"币种", "Currency"},
	"admin.col.above":             {"金额超过", "Amount above"},
	"admin.col.authorizers":       {"授权人数", "Authorizers"},
	"admin.col.what":              {"变更内容", "What"},
	"admin.col.why":               {"理由", "Why"},
	"admin.col.proposed":          {"提出人 · 时间", "Proposed by · at"},
	"admin.col.expires":           {"失效时间", "Expires"},
	"admin.col.decision":          {"处理", "Decision"},
	"admin.col.decided":           {"处理人 · 时间", "Decided by · at"},
	"admin.col.state":             {"结果", "Outcome"},
	"admin.active":                {"启用", "enabled"},
	"admin.inactive":              {"已停用", "disabled"},
	"admin.nolimit":               {"无", "none"},
	"admin.otp.yes":               {"已绑定", "enrolled"},
	"admin.otp.no":                {"未绑定", "not enrolled"},
	"admin.otp.enrol":             {"绑定动态口令", "Enrol OTP"},
	"admin.otp.reenrol":           {"重新绑定", "Re-enrol OTP"},
	"admin.otp.replace":           {"确认替换现有口令", "replace the current one"},
	"admin.otp.confirm":           {"该用户已绑定动态口令：请勾选“确认替换现有口令”后再重新绑定（旧口令将立即失效）。", "This user already has a one-time password: tick \"replace the current one\" to re-enrol (the old one stops working at once)."},
	"admin.otp.title":             {"动态口令绑定", "One-time password enrolment"},
	"admin.otp.for":               {"已为用户 %s 生成新的动态口令密钥。请让该用户用身份验证器应用扫描二维码，或手动输入下面的密钥。", "A new one-time password secret was made for user %s. Have them scan the QR code with their authenticator app, or enter the key below by hand."},
	"admin.otp.once":              {"此二维码、密钥和地址只显示这一次，离开本页后无法再次查看，也不会被保存或记录。请勿截图或转发。", "This QR code, key and address are shown this once: they cannot be seen again after you leave this page, and are neither kept nor logged. Do not screenshot or forward them."},
	"admin.otp.qr":                {"动态口令二维码", "One-time password QR code"},
	"admin.otp.key":               {"密钥（手动输入）", "Key (manual entry)"},
	"admin.otp.uri":               {"完整地址", "Full address"},
	"admin.otp.back":              {"完成，返回管理页", "Done, back to administration"},
	"admin.locked.otp":            {"口令锁定至 %s", "OTP locked until %s"},
	"admin.locked.login":          {"登录锁定至 %s", "sign-in locked until %s"},
	"admin.edit":                  {"修改", "Change"},
	"admin.reason":                {"理由", "Reason"},
	"admin.reason.decide":         {"处理意见（拒绝时必填）", "Note (required to reject)"},
	"admin.approve":               {"批准", "Approve"},
	"admin.reject":                {"拒绝", "Reject"},
	"admin.mine":                  {"由您提出：须由另一名管理员批准或拒绝。", "You proposed this: another administrator approves or rejects it."},
	"admin.aboutme":               {"此变更涉及您本人：须由另一名管理员处理。", "This change is about you: another administrator decides it."},
	"admin.f.roles":               {"修改用户角色", "A user's roles"},
	"admin.f.limit":               {"设置审批限额", "A user's limit"},
	"admin.f.tier":                {"设置授权层级", "An approval tier"},
	"admin.f.active":              {"启用或停用用户", "Enable or disable a user"},
	"admin.f.user":                {"用户", "User"},
	"admin.f.pick":                {"请选择", "Choose"},
	"admin.f.amount":              {"限额（如 500000.00）", "Limit (such as 500000.00)"},
	"admin.f.above":               {"金额超过（如 1000000.00）", "Amount above (such as 1000000.00)"},
	"admin.f.authorizers":         {"所需授权人数（1–5）", "Authorizers needed (1–5)"},
	"admin.f.enable":              {"启用", "Enable"},
	"admin.f.disable":             {"停用", "Disable"},
	"admin.f.action":              {"操作", "Action"},
	"admin.f.submit":              {"提交审批", "Propose"},
	"admin.f.operator":            {"运营角色（operator）由银行授予，不受此处影响。", "The operator role is the bank's and is kept as it is."},
	"admin.done.proposed":         {"变更已提交，正在等待另一名管理员批准；批准前不会生效。", "The change is proposed and waits for a second administrator: it takes effect only once approved."},
	"admin.done.approved":         {"变更已批准并已生效。", "The change is approved and in effect."},
	"admin.done.rejected":         {"变更已拒绝，未生效。", "The change is rejected; nothing changed."},
	"admin.err.verdict":           {"请选择批准或拒绝。", "choose approve or reject."},
	"admin.state.pending":         {"待审批", "pending"},
	"admin.state.applied":         {"已批准生效", "approved, applied"},
	"admin.state.rejected":        {"已拒绝", "rejected"},
	"admin.state.expired":         {"已失效", "expired"},
	"admin.what.roles":            {"用户 %s 的角色改为：%s", "roles of %s become: %s"},
	"admin.what.limit":            {"用户 %s 的 %s 审批限额设为 %s", "limit of %s in %s set to %s"},
	"admin.what.tier":             {"%s 金额超过 %s 的支付需 %d 名授权人", "%s payments above %s need %d authorizers"},
	"admin.what.enable":           {"启用用户 %s", "enable user %s"},
	"admin.what.disable":          {"停用用户 %s（其会话立即失效）", "disable user %s (their sessions end at once)"},
	"role.applicant":              {"申请", "applicant"},
	"role.reviewer":               {"复核", "reviewer"},
	"role.authorizer":             {"授权", "authorizer"},
	"role.admin":                  {"管理员", "administrator"},
	"role.operator":               {"运营", "operator"},
	"code.dual_control":           {"双人控制：提出变更的管理员或变更涉及的本人不能处理该变更，须由另一名管理员处理；也不能使管理员少于两名。", "Dual control: the administrator who proposed a change, or the person it is about, cannot decide it; another administrator must. Nor may a change leave fewer than two administrators."},
	"code.change_expired":         {"该变更超过 24 小时未处理，已失效；如仍需要，请重新提出。", "The change waited more than 24 hours and expired; propose it again if it is still needed."},
	"admin.code.wrong_role":       {"您不是本客户的在职管理员，不能进行此操作。", "You are not an active administrator of this customer."},
	"admin.code.not_found":        {"未找到该用户或变更。", "No such user or change."},
	"admin.code.invalid_input":    {"输入有误。", "The input is not valid."},
	"admin.code.already_decided":  {"该变更已被处理（批准、拒绝或失效）。", "The change is already decided (approved, rejected or expired)."},
	"admin.code.conflict":         {"同一对象已有一项待审批的变更，请先批准或拒绝它。", "A change of this kind to the same user or tier is already waiting: approve or reject it first."},
	"admin.code.reason_required":  {"请填写理由。", "A reason is required."},
	"admin.code.invalid_amount":   {"金额格式有误。", "The amount is not valid."},
	"admin.code.invalid_currency": {"币种代码有误。", "The currency code is not valid."},
	"admin.code.invalid_field":    {"输入有误。", "The input is not valid."},
}
