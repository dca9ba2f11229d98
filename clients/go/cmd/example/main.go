// Command example is what an internal platform does with keyroute's typed gRPC API, in Go.
//
// It connects to a router over mutual TLS with a platform certificate (`keyroute certs issue
// --identity platform/<name>`), checking the router's certificate against the CA by hostname
// with crypto/tls's stock verification, and for one of its users (whose gateway token it
// forwards in `authorization: Bearer ...`):
//
//  1. adds a provider key for the user (VaultService.CreateCredential, which the router
//     passes through to the vault for platforms),
//  2. tests it live (RouterService.TestCredential),
//  3. chats, whole (Complete) and streamed (CompleteStream), checking the new key served,
//  4. lists the models the user can route (ListModels),
//  5. deletes the key again (VaultService.DeleteCredential), so a run leaves nothing behind.
//
// It prints a line per step and exits 1 when any step failed (2 for bad arguments).
//
//	KEYROUTE_TOKEN=kr_... example -router localhost:7444 -ca DIR/ca.crt \
//	    -cert DIR/platform-examples.crt -key DIR/platform-examples.key -owner-id usr_...
//
// The provider key defaults to one the mock providers of `keyroute dev --mock` accept; set
// KEYROUTE_EXAMPLE_PROVIDER_KEY to add a real one.
package main

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	routerv1 "keyroute.dev/client/router/v1"
	vaultv1 "keyroute.dev/client/vault/v1"
)

const timeout = 30 * time.Second

type options struct {
	router, ca, cert, key, ownerID, provider, model string
	token, providerKey                              string
}

func parseOptions() options {
	var o options
	flag.StringVar(&o.router, "router", "", "HOST:PORT of the router, by the name its certificate carries (localhost:PORT for keyroute dev)")
	flag.StringVar(&o.ca, "ca", "", "the CA certificate that signed the router's (PEM)")
	flag.StringVar(&o.cert, "cert", "", "the platform's client certificate (PEM)")
	flag.StringVar(&o.key, "key", "", "the platform's private key (PEM)")
	flag.StringVar(&o.ownerID, "owner-id", "", "the principal the key is added for: the user whose token is forwarded, or one of their orgs")
	flag.StringVar(&o.provider, "provider", "openai", "the key's provider")
	flag.StringVar(&o.model, "model", "gpt-4o-mini", "the model to chat with, served by -provider")
	flag.Parse()
	o.token = os.Getenv("KEYROUTE_TOKEN")
	for name, value := range map[string]string{"-router": o.router, "-ca": o.ca, "-cert": o.cert, "-key": o.key, "-owner-id": o.ownerID, "KEYROUTE_TOKEN": o.token} {
		if value == "" {
			fmt.Fprintf(os.Stderr, "example: %s is required\n", name)
			flag.Usage()
			os.Exit(2)
		}
	}
	o.providerKey = os.Getenv("KEYROUTE_EXAMPLE_PROVIDER_KEY")
	if o.providerKey == "" {
		o.providerKey = "sk-mock-example-" + randomHex(8)
	}
	return o
}

func randomHex(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return hex.EncodeToString(b)
}

// tlsConfig is crypto/tls's stock client verification: the router's certificate must chain
// to the CA and name the host dialed (grpc sets ServerName from the target), and the
// platform's certificate answers the router's request for one.
func tlsConfig(o options) (*tls.Config, error) {
	caPEM, err := os.ReadFile(o.ca)
	if err != nil {
		return nil, err
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(caPEM) {
		return nil, fmt.Errorf("%s holds no PEM certificate", o.ca)
	}
	pair, err := tls.LoadX509KeyPair(o.cert, o.key)
	if err != nil {
		return nil, err
	}
	return &tls.Config{RootCAs: roots, Certificates: []tls.Certificate{pair}, MinVersion: tls.VersionTLS13}, nil
}

// run holds the steps' outcome and what every call carries.
type run struct {
	token, runID string
	failures     []string
}

// ctx carries the user's gateway token and a request id the router echoes and the vault
// audits, with a deadline.
func (r *run) ctx(step string) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	ctx = metadata.AppendToOutgoingContext(ctx,
		"authorization", "Bearer "+r.token,
		"x-request-id", fmt.Sprintf("example-go-%s-%s", r.runID, step))
	return ctx, cancel
}

func (r *run) ok(step, format string, args ...interface{}) {
	fmt.Printf("%s: ok: %s\n", step, fmt.Sprintf(format, args...))
}

func (r *run) fail(step, format string, args ...interface{}) {
	r.failures = append(r.failures, step)
	fmt.Printf("%s: FAILED: %s\n", step, fmt.Sprintf(format, args...))
}

// rpcFailed reports a failed call with its status and the router's `x-keyroute-*` trailers,
// which say where the failure came from and whether a retry may help.
func (r *run) rpcFailed(step string, err error, trailer metadata.MD) {
	s := status.Convert(err)
	r.fail(step, "%s: %s%s", s.Code(), s.Message(), keyrouteHeaders(trailer, " [", "]"))
}

// keyrouteHeaders is the router's `x-keyroute-*` metadata, the request id and `retry-after`,
// as `name=value` pairs.
func keyrouteHeaders(md metadata.MD, before, after string) string {
	var pairs []string
	for name, values := range md {
		if strings.HasPrefix(name, "x-keyroute-") || name == "x-request-id" || name == "retry-after" {
			pairs = append(pairs, name+"="+strings.Join(values, ","))
		}
	}
	if len(pairs) == 0 {
		return ""
	}
	sort.Strings(pairs)
	return before + strings.Join(pairs, " ") + after
}

func chatRequest(model, text string) *routerv1.ChatRequest {
	maxTokens := uint32(64)
	message := func(role routerv1.Role, text string) *routerv1.Message {
		return &routerv1.Message{Role: role, Content: []*routerv1.ContentPart{{Part: &routerv1.ContentPart_Text{Text: text}}}}
	}
	return &routerv1.ChatRequest{
		Model: model,
		Messages: []*routerv1.Message{
			message(routerv1.Role_ROLE_SYSTEM, "Answer in one sentence."),
			message(routerv1.Role_ROLE_USER, text),
		},
		Sampling: &routerv1.Sampling{MaxTokens: &maxTokens},
	}
}

func (r *run) checkServed(step string, served *routerv1.ServedBy, credential *vaultv1.Credential) bool {
	if served.GetKeySource() != routerv1.KeySource_KEY_SOURCE_BYOK || served.GetCredentialFingerprint() != credential.GetFingerprint() {
		r.fail(step, "served by %s %q, not by the key added (%s)", served.GetKeySource(), served.GetCredentialFingerprint(), credential.GetFingerprint())
		return false
	}
	return true
}

func main() {
	o := parseOptions()
	r := &run{token: o.token, runID: randomHex(6)}
	config, err := tlsConfig(o)
	if err != nil {
		fmt.Fprintf(os.Stderr, "example: %v\n", err)
		os.Exit(2)
	}
	dialCtx, cancel := context.WithTimeout(context.Background(), timeout)
	conn, err := grpc.DialContext(dialCtx, o.router, grpc.WithTransportCredentials(credentials.NewTLS(config)), grpc.WithBlock())
	cancel()
	if err != nil {
		r.fail("connect", "no TLS connection to %s within %s (wrong address, CA or certificate?): %v", o.router, timeout, err)
		os.Exit(1)
	}
	defer conn.Close()
	r.ok("connect", "%s over mTLS", o.router)
	router := routerv1.NewRouterServiceClient(conn)
	// The vault's key management, on the router's own address.
	vault := vaultv1.NewVaultServiceClient(conn)

	credential := r.createKey(vault, o)
	if credential != nil {
		r.testKey(router, credential)
		r.chat(router, o.model, credential)
		r.stream(router, o.model, credential)
	}
	r.listModels(router, o.model)
	if credential != nil {
		r.deleteKey(vault, credential)
	}

	if len(r.failures) > 0 {
		fmt.Printf("example (go): %d step(s) failed: %s\n", len(r.failures), strings.Join(r.failures, ", "))
		os.Exit(1)
	}
	fmt.Println("example (go): every step passed")
}

func (r *run) createKey(vault vaultv1.VaultServiceClient, o options) *vaultv1.Credential {
	ctx, cancel := r.ctx("create-key")
	defer cancel()
	var trailer metadata.MD
	created, err := vault.CreateCredential(ctx, &vaultv1.CreateCredentialRequest{
		OwnerId:  o.ownerID,
		Provider: o.provider,
		Label:    "grpc-example-go-" + r.runID,
		Secret:   o.providerKey,
	}, grpc.Trailer(&trailer))
	if err != nil {
		r.rpcFailed("create key", err, trailer)
		return nil
	}
	c := created.GetCredential()
	r.ok("create key", "%s (%s, %s, %s)", c.GetId(), c.GetProvider(), c.GetLabel(), c.GetFingerprint())
	return c
}

func (r *run) deleteKey(vault vaultv1.VaultServiceClient, credential *vaultv1.Credential) {
	ctx, cancel := r.ctx("delete-key")
	defer cancel()
	var trailer metadata.MD
	if _, err := vault.DeleteCredential(ctx, &vaultv1.DeleteCredentialRequest{CredentialId: credential.GetId()}, grpc.Trailer(&trailer)); err != nil {
		r.rpcFailed("delete key", err, trailer)
		return
	}
	r.ok("delete key", "%s", credential.GetId())
}

func (r *run) testKey(router routerv1.RouterServiceClient, credential *vaultv1.Credential) {
	ctx, cancel := r.ctx("test-key")
	defer cancel()
	var trailer metadata.MD
	tested, err := router.TestCredential(ctx, &routerv1.TestCredentialRequest{CredentialId: credential.GetId()}, grpc.Trailer(&trailer))
	if err != nil {
		r.rpcFailed("test key", err, trailer)
		return
	}
	if tested.GetOutcome() != routerv1.TestOutcome_TEST_OUTCOME_OK {
		r.fail("test key", "%s: %s", tested.GetOutcome(), tested.GetProviderMessage())
		return
	}
	r.ok("test key", "%s at %s in %d ms; the key lists %d models", tested.GetOutcome(), tested.GetProvider(), tested.GetLatencyMs(), len(tested.GetModels()))
}

func (r *run) chat(router routerv1.RouterServiceClient, model string, credential *vaultv1.Credential) {
	ctx, cancel := r.ctx("complete")
	defer cancel()
	var header, trailer metadata.MD
	answer, err := router.Complete(ctx, &routerv1.CompleteRequest{Request: chatRequest(model, "Say hello to keyroute.")},
		grpc.Header(&header), grpc.Trailer(&trailer))
	if err != nil {
		r.rpcFailed("complete", err, trailer)
		return
	}
	response := answer.GetResponse()
	var text strings.Builder
	for _, choice := range response.GetChoices() {
		for _, part := range choice.GetMessage().GetContent() {
			text.WriteString(part.GetText())
		}
	}
	if text.Len() == 0 {
		r.fail("complete", "no text in the answer: %v", response)
		return
	}
	if r.checkServed("complete", response.GetServedBy(), credential) {
		r.ok("complete", "%s said %q (%d in, %d out); %s", response.GetModel(), clip(text.String(), 60),
			response.GetUsage().GetInputTokens(), response.GetUsage().GetOutputTokens(), keyrouteHeaders(header, "", ""))
	}
}

func (r *run) stream(router routerv1.RouterServiceClient, model string, credential *vaultv1.Credential) {
	ctx, cancel := r.ctx("complete-stream")
	defer cancel()
	started := time.Now()
	stream, err := router.CompleteStream(ctx, &routerv1.CompleteStreamRequest{Request: chatRequest(model, "Count to five.")})
	if err != nil {
		r.rpcFailed("complete stream", err, nil)
		return
	}
	var text strings.Builder
	var deltas int
	var usage *routerv1.Usage
	var end *routerv1.StreamEnd
	for {
		event, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			r.rpcFailed("complete stream", err, stream.Trailer())
			return
		}
		switch e := event.GetEvent().(type) {
		case *routerv1.CompleteStreamResponse_Delta:
			deltas++
			text.WriteString(e.Delta.GetText())
		case *routerv1.CompleteStreamResponse_Usage:
			usage = e.Usage
		case *routerv1.CompleteStreamResponse_Error:
			// A failure after the stream started arrives as an event, not a status.
			r.fail("complete stream", "stream error %d %s: %s", e.Error.GetStatus(), e.Error.GetType(), e.Error.GetMessage())
			return
		case *routerv1.CompleteStreamResponse_End:
			end = e.End
		}
	}
	header, _ := stream.Header()
	if end == nil || text.Len() == 0 {
		missing := "its end event"
		if end != nil {
			missing = "text"
		}
		r.fail("complete stream", "the stream ended without %s", missing)
		return
	}
	if r.checkServed("complete stream", end.GetServedBy(), credential) {
		tokens := ""
		if usage != nil {
			tokens = fmt.Sprintf("%d tokens out, ", usage.GetOutputTokens())
		}
		r.ok("complete stream", "%d deltas, %s%.2fs: %q; %s", deltas, tokens, time.Since(started).Seconds(),
			clip(text.String(), 60), keyrouteHeaders(header, "", ""))
	}
}

func (r *run) listModels(router routerv1.RouterServiceClient, model string) {
	ctx, cancel := r.ctx("list-models")
	defer cancel()
	var trailer metadata.MD
	listed, err := router.ListModels(ctx, &routerv1.ListModelsRequest{}, grpc.Trailer(&trailer))
	if err != nil {
		r.rpcFailed("list models", err, trailer)
		return
	}
	found := false
	sources := map[string]int{}
	for _, m := range listed.GetModels() {
		found = found || m.GetId() == model
		sources[strings.ToLower(strings.TrimPrefix(m.GetKeySource().String(), "KEY_SOURCE_"))]++
	}
	if !found {
		r.fail("list models", "%s is not among the %d models listed", model, len(listed.GetModels()))
		return
	}
	var names, counts []string
	for source := range sources {
		names = append(names, source)
	}
	sort.Strings(names)
	for _, source := range names {
		counts = append(counts, fmt.Sprintf("%d %s", sources[source], source))
	}
	r.ok("list models", "%d routable (%s), %s among them", len(listed.GetModels()), strings.Join(counts, ", "), model)
}

func clip(text string, n int) string {
	runes := []rune(text)
	if len(runes) <= n {
		return text
	}
	return string(runes[:n]) + "..."
}
