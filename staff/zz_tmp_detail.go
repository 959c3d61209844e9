package staff

import (
	"context"
	"net/http"
	"time"

	"github.com/b2bpay/b2bpay/payment"
)

type TimelineEntry struct {
	Seq    int            `json:"seq"`
	At     time.Time      `json:"at"`
	Actor  payment.Actor  `json:"actor"`
	Action payment.Action `json:"action"`
	From   payment.State  `json:"from"`
	To     payment.State  `json:"to"`
	Code   payment.Code   `json:"code"`
	Note   string         `json:"note"`
}

func PaymentDetail(ctx context.Context, api string, s Session, id string) (PaymentView, []TimelineEntry, error) {
	var got struct {
		Payment  PaymentView     `json:"payment"`
		Timeline []TimelineEntry `json:"timeline"`
	}
	if err := Call(ctx, api, http.MethodGet, "/v1/payments/"+id, s.Token, nil, &got); err != nil {
		return PaymentView{}, nil, err
	}
	return got.Payment, got.Timeline, got.Payment.CheckDigest()
}
