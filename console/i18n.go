package console

import (
	"net/http"
	"strings"

	"github.com/b2bpay/b2bpay/payment"
)

// Languages: Simplified Chinese by default, English on request (a cookie
// set by /lang/en or /lang/zh-CN).

// Lang is the language a page is rendered in.
type Lang string

const (
	langZH Lang = "zh-CN"
	langEN Lang = "en"
)

// langOf is the request's language: its cookie, else Chinese.
func langOf(r *http.Request) Lang {
	if ck, err := r.Cookie("b2bpay_lang"); err == nil && ck.Value == string(langEN) {
		return langEN
	}
	return langZH
}

// setLang keeps the language asked for and goes back to the page.
func (c *Console) setLang(w http.ResponseWriter, r *http.Request) {
	l := langZH
	if r.PathValue("lang") == string(langEN) {
		l = langEN
	}
	http.SetCookie(w, &http.Cookie{Name: "b2bpay_lang", Value: string(l), Path: "/", MaxAge: 365 * 24 * 3600,
		HttpOnly: true, Secure: !c.cfg.Insecure, SameSite: http.SameSiteLaxMode})
	back := r.URL.Query().Get("back")
	if !strings.HasPrefix(back, "/") || strings.HasPrefix(back, "//") || strings.ContainsAny(back, "\\\r\n") {
		back = "/"
	}
	http.Redirect(w, r, back, http.StatusSeeOther)
}

// T is the text of key in the language; a missing key shows itself.
func (l Lang) T(key string) string {
	m, ok := messages[key]
	if !ok {
		return key
	}
	if l == langEN {
		return m[1]
	}
	return m[0]
}

// Code is a refusal's code in plain words.
func (l Lang) Code(code string) string {
	if _, ok := messages["code."+code]; ok {
		return l.T("code." + code)
	}
	return l.T("code.other") + " (" + code + ")"
}

// State is a payment state in words.
func (l Lang) State(s payment.State) string {
	if _, ok := messages["state."+string(s)]; ok {
		return l.T("state." + string(s))
	}
	return string(s)
}

// Stage is a stage in words.
func (l Lang) Stage(s payment.Stage) string { return l.T("stage." + string(s)) }

// Action is a timeline action in words.
func (l Lang) Action(a payment.Action) string {
	if _, ok := messages["action."+string(a)]; ok {
		return l.T("action." + string(a))
	}
	return string(a)
}

// IsEN is whether the page is in English.
func (l Lang) IsEN() bool { return l == langEN }

// messages: key → {Chinese, English}.
var messages = map[string][2]string{
	"app.name":                     {"企业网银 · 对公支付", "Corporate banking · B2B payments"},
	"nav.inbox":                    {"我的待办", "My work"},
	"nav.query":                    {"支付查询", "Payments"},
	"nav.ops":                      {"运营", "Operations"},
	"nav.admin":                    {"管理", "Administration"},
	"nav.logout":                   {"退出", "Sign out"},
	"nav.signedin":                 {"当前用户", "Signed in as"},
	"nav.skip":                     {"跳到正文", "Skip to content"},
	"login.title":                  {"登录", "Sign in"},
	"login.user":                   {"用户名", "User id"},
	"login.password":               {"密码", "Password"},
	"login.submit":                 {"登录", "Sign in"},
	"login.failed":                 {"用户名或密码不正确。", "The user id or password is not right."},
	"login.throttled":              {"尝试次数过多，已暂时锁定，请稍后再试。", "Too many attempts: sign-in is locked for a while. Try again later."},
	"login.inactive":               {"该用户已停用，请联系管理员。", "This user is disabled. Ask your administrator."},
	"login.expired":                {"会话已过期，请重新登录。", "Your session has expired. Please sign in again."},
	"login.revoked":                {"会话已失效，请重新登录。", "Your session is no longer valid. Please sign in again."},
	"login.signedout":              {"您已安全退出。", "You have signed out."},
	"login.bad":                    {"请填写用户名和密码。", "Enter your user id and password."},
	"login.otpnote":                {"登录只需密码；确认、复核、授权时需输入动态口令。", "Sign in with your password; confirming, reviewing and authorizing ask for your one-time password."},
	"inbox.title":                  {"我的待办", "My work"},
	"inbox.empty":                  {"没有等待您处理的支付。", "Nothing is waiting for you."},
	"inbox.select":                 {"选择", "Select"},
	"inbox.selectall":              {"全选", "Select all"},
	"inbox.approve":                {"批量同意所选", "Approve selected"},
	"inbox.reject":                 {"批量拒绝所选", "Reject selected"},
	"inbox.more":                   {"仅显示最紧急的前 %d 笔。", "Only the %d most urgent are shown."},
	"inbox.live":                   {"数量每 10 秒自动刷新", "Counts refresh every 10 seconds"},
	"stage.confirmation":           {"待确认", "To confirm"},
	"stage.review":                 {"待复核", "To review"},
	"stage.authorization":          {"待授权", "To authorize"},
	"col.order":                    {"订单号", "Order"},
	"col.id":                       {"支付编号", "Payment id"},
	"col.amount":                   {"金额", "Amount"},
	"col.creditor":                 {"收款方", "Creditor"},
	"col.account":                  {"账号", "Account"},
	"col.bank":                     {"开户行", "Bank"},
	"col.execution":                {"执行日期", "Execution date"},
	"col.expires":                  {"过期时间", "Expires"},
	"col.state":                    {"状态", "State"},
	"col.applicant":                {"申请人", "Applicant"},
	"col.auths":                    {"授权进度", "Authorizations"},
	"col.created":                  {"创建时间", "Created"},
	"col.updated":                  {"更新时间", "Updated"},
	"col.outcome":                  {"结果", "Outcome"},
	"col.reason":                   {"原因", "Reason"},
	"col.digest":                   {"摘要", "Digest"},
	"batch.title":                  {"批量处理", "Batch decision"},
	"batch.count":                  {"笔数", "Count"},
	"batch.total":                  {"合计", "Total"},
	"batch.digest":                 {"批次摘要", "Batch digest"},
	"batch.otp":                    {"动态口令", "One-time password"},
	"batch.otphelp":                {"请核对笔数、合计与批次摘要后输入口令：口令只对以上内容生效。", "Check the count, totals and batch digest, then enter your code: it signs exactly what is shown."},
	"batch.reason":                 {"拒绝原因", "Reason for rejecting"},
	"batch.submit.approve":         {"确认同意", "Approve these"},
	"batch.submit.reject":          {"确认拒绝", "Reject these"},
	"batch.none":                   {"请至少选择一笔支付。", "Select at least one payment."},
	"batch.changed":                {"所选支付在您查看后已变化，请重新核对。", "The payments changed after you saw them. Check them again."},
	"batch.result":                 {"处理结果", "Result"},
	"batch.applied":                {"已生效", "applied"},
	"batch.refused":                {"被拒绝", "refused"},
	"batch.summary":                {"批次 %s：%d 笔生效，%d 笔被拒，共 %d 笔。", "Batch %s: %d applied, %d refused of %d."},
	"batch.back":                   {"返回待办", "Back to my work"},
	"verdict.approve":              {"同意", "approve"},
	"verdict.reject":               {"拒绝", "reject"},
	"pay.title":                    {"支付详情", "Payment"},
	"pay.content":                  {"支付内容", "Content"},
	"pay.debtor":                   {"付款账户", "Debtor account"},
	"pay.remittance":               {"附言", "Remittance"},
	"pay.digest":                   {"待批准内容摘要", "Digest you approve"},
	"pay.steps":                    {"经办记录", "Who did what"},
	"pay.applied":                  {"申请", "Applied"},
	"pay.confirmed":                {"确认", "Confirmed"},
	"pay.reviewed":                 {"复核", "Reviewed"},
	"pay.authorized":               {"授权", "Authorized"},
	"pay.auths":                    {"已授权 %d / 需 %d", "%d of %d authorizations"},
	"pay.cutoff":                   {"预计批次截止", "Cutoff it will make"},
	"pay.settlement":               {"结算日期", "Settlement date"},
	"pay.timeline":                 {"完整时间线", "Timeline"},
	"pay.chain.ok":                 {"时间线链与签章校验通过。", "The timeline chain and approval seals check."},
	"pay.chain.bad":                {"校验失败：", "The check failed: "},
	"pay.otphelp":                  {"请核对以上内容与摘要后输入口令：口令只对该摘要生效。", "Check the content and its digest, then enter your code: it signs exactly that digest."},
	"pay.decide":                   {"您的处理", "Your decision"},
	"pay.approve":                  {"同意", "Approve"},
	"pay.reject":                   {"拒绝", "Reject"},
	"pay.notyours":                 {"此支付当前不在您的待办中。", "This payment is not waiting for you."},
	"pay.applied.ok":               {"已生效，支付现为：", "Applied; the payment is now: "},
	"pay.refused":                  {"未生效：", "Not applied: "},
	"col.at":                       {"时间", "At"},
	"col.actor":                    {"操作人", "By"},
	"col.action":                   {"操作", "Action"},
	"col.from":                     {"原状态", "From"},
	"col.to":                       {"新状态", "To"},
	"col.note":                     {"说明", "Note"},
	"err.title":                    {"出错了", "Something went wrong"},
	"err.forbidden":                {"请求被拒绝：表单已失效或来源不符。请刷新页面后重试。", "Refused: the form is stale or came from elsewhere. Reload the page and try again."},
	"err.notfound":                 {"未找到该支付。", "No such payment."},
	"err.role":                     {"您没有访问此页面的权限。", "You do not have the role this page needs."},
	"err.internal":                 {"系统暂时无法完成请求，请稍后再试。", "b2bpay could not do this just now. Try again shortly."},
	"err.input":                    {"输入有误：", "Check your input: "},
	"code.other":                   {"被拒绝", "refused"},
	"code.otp_invalid":             {"动态口令不正确。", "Wrong one-time password."},
	"code.otp_replayed":            {"该动态口令已使用过，请等待下一个口令。", "That one-time password was already used; wait for the next one."},
	"code.otp_locked":              {"动态口令错误次数过多，已锁定，请联系管理员。", "Too many wrong codes: your one-time password is locked. Ask your administrator."},
	"code.otp_required":            {"请输入动态口令。", "Enter your one-time password."},
	"code.otp_not_enrolled":        {"您尚未绑定动态口令，请联系管理员。", "You have no one-time password enrolled. Ask your administrator."},
	"code.over_limit":              {"金额超过您的审批限额。", "The amount is over your approval limit."},
	"code.already_decided":         {"已由他人处理。", "Already decided by someone else."},
	"code.wrong_role":              {"您没有该环节所需的角色。", "You do not hold the role this stage needs."},
	"code.separation_of_duties":    {"同一人不能处理同一笔支付的多个环节。", "One person cannot decide two stages of the same payment."},
	"code.not_the_applicant":       {"只有申请人本人可以确认。", "Only the applicant may confirm."},
	"code.content_changed":         {"支付内容已变化，与您看到的不一致。", "The payment's content changed from what you saw."},
	"code.not_found":               {"未找到该支付。", "No such payment."},
	"code.frozen":                  {"支付已冻结。", "The payment is frozen."},
	"code.reason_required":         {"拒绝时必须填写原因。", "A rejection needs a reason."},
	"code.user_inactive":           {"用户已停用。", "The user is disabled."},
	"code.wrong_customer":          {"不属于您的客户。", "Not your customer's payment."},
	"code.token_invalid":           {"会话已失效，请重新登录。", "Your session is no longer valid; sign in again."},
	"code.invalid_transition":      {"支付当前状态不允许此操作。", "The payment's state does not allow this."},
	"code.invalid_input":           {"输入有误。", "The input is not valid."},
	"code.batch_too_large":         {"超过批量上限。", "Over the batch cap."},
	"code.timeout":                 {"未在规定时间内收到结果，请稍后在支付详情查看是否已生效。", "No result arrived in time; check the payment's page shortly to see whether it was applied."},
	"state.received":               {"已接收", "received"},
	"state.awaiting_confirmation":  {"待申请人确认", "awaiting confirmation"},
	"state.awaiting_review":        {"待复核", "awaiting review"},
	"state.awaiting_authorization": {"待授权", "awaiting authorization"},
	"state.authorized":             {"已授权", "authorized"},
	"state.exported":               {"已出文件", "exported"},
	"state.settled":                {"已结算", "settled"},
	"state.rejected":               {"已拒绝", "rejected"},
	"state.cancelled":              {"已撤销", "cancelled"},
	"state.expired":                {"已过期", "expired"},
	"state.returned":               {"已退回", "returned"},
	"state.held":                   {"已挂起", "held"},
	"action.receive":               {"接收", "received"},
	"action.request_confirmation":  {"请求确认", "asked for confirmation"},
	"action.confirm":               {"确认", "confirmed"},
	"action.approve":               {"复核通过", "reviewed"},
	"action.authorize_partial":     {"部分授权", "authorized (1 of more)"},
	"action.authorize":             {"授权", "authorized"},
	"action.reject":                {"拒绝", "rejected"},
	"action.cancel":                {"撤销", "cancelled"},
	"action.expire":                {"过期", "expired"},
	"action.export":                {"出文件", "exported"},
	"action.settle":                {"结算", "settled"},
	"q.title":                      {"支付查询", "Payment search"},
	"q.state.any":                  {"全部状态", "any state"},
	"q.from":                       {"创建日期自", "Created from"},
	"q.to":                         {"至", "to"},
	"q.amountmin":                  {"金额下限", "Amount from"},
	"q.amountmax":                  {"金额上限", "Amount to"},
	"q.currency":                   {"币种", "Currency"},
	"q.counterparty":               {"收款方（名称或账号）", "Counterparty (name or account)"},
	"q.search":                     {"查询", "Search"},
	"q.csv":                        {"下载 CSV", "Download CSV"},
	"q.none":                       {"没有符合条件的支付。", "No payment matches."},
	"q.next":                       {"下一页", "Next page"},
}
