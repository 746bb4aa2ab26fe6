package graph

import (
	"context"
	"log/slog"
	"net/http"
	"sort"
	"strings"
	"time"

	"github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/handler"
	"github.com/99designs/gqlgen/graphql/handler/extension"
	"github.com/99designs/gqlgen/graphql/handler/lru"
	"github.com/99designs/gqlgen/graphql/handler/transport"
	"github.com/vektah/gqlparser/v2/ast"

	"github.com/custody-dev/custody/authz"
	"github.com/custody-dev/custody/domain"
	"github.com/custody-dev/custody/graph/generated"
	"github.com/custody-dev/custody/tenancy"
)

// Defaults of Config.
const (
	// DefaultComplexityLimit fits a full page (100 assets) with each asset's
	// last 10 events and a handful of fields, and little more.
	DefaultComplexityLimit = 10000
	DefaultDepthLimit      = 12
)

// Fixed protections that need no configuration.
const (
	// queryCacheSize is how many parsed and validated documents are kept:
	// clients send a handful of distinct operations, over and over.
	queryCacheSize = 1000
	// parserTokenLimit refuses absurdly long documents before parsing them.
	parserTokenLimit = 15000
)

// OperationObserver is told about every operation once it has been answered
// (metrics). operation names what the API did, from the schema rather than
// from client-chosen names, e.g. "mutation assetHandOff" or
// "query asset+assets" (the root fields, sorted), or "anonymous".
type OperationObserver interface {
	ObserveOperation(operation string, duration time.Duration, errors int)
}

// Config configures NewHandler.
type Config struct {
	// Service runs the use cases. Required.
	Service *domain.Service
	// Authorizer decides every field access. Required.
	Authorizer *authz.Authorizer
	// Introspection enables the schema introspection fields (and field-name
	// suggestions in validation errors).
	Introspection bool
	// ComplexityLimit bounds an operation's cost (default DefaultComplexityLimit): each field
	// costs 1, and a list costs its items' cost times the items it may return.
	ComplexityLimit int
	// DepthLimit bounds how deeply an operation's fields nest (default 12).
	DepthLimit int
	// Observer, if not nil, is told about every operation.
	Observer OperationObserver
	// Logger receives internal errors and panics (default slog.Default()).
	Logger *slog.Logger
	// Links signs download links (exportCreate); the HTTP server verifies
	// them with the same key. Nil refuses exportCreate.
	Links *tenancy.LinkSigner
	// MaxUploadBytes enables multipart file uploads (the GraphQL multipart
	// request specification: imports) up to this size; 0 disables them.
	// The HTTP server must let such bodies through (server.Config.MaxUploadBytes).
	MaxUploadBytes int64
	// Transports are added after GET and POST: the WebSocket transport of
	// subscriptions (graph/wstransport).
	Transports []graphql.Transport
}

// uploadMemory is how much of an upload is held in memory; the rest goes
// to a temporary file.
const uploadMemory = 8 << 20

// NewHandler returns the GraphQL endpoint over the GET and POST JSON
// transports, and cfg.Transports. The caller has already authenticated the request and put the
// tenancy.Principal and tenancy.ClientInfo in its context. It panics when
// Service or Authorizer is nil: that is a wiring bug, not a runtime condition.
func NewHandler(cfg Config) http.Handler {
	if cfg.Service == nil || cfg.Authorizer == nil {
		panic("graph.NewHandler: Config.Service and Config.Authorizer are required")
	}
	if cfg.ComplexityLimit <= 0 {
		cfg.ComplexityLimit = DefaultComplexityLimit
	}
	if cfg.DepthLimit <= 0 {
		cfg.DepthLimit = DefaultDepthLimit
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	r := &Resolver{svc: cfg.Service, authz: cfg.Authorizer, log: cfg.Logger, links: cfg.Links}
	gc := generated.Config{Resolvers: r}
	setComplexity(&gc.Complexity)

	srv := handler.New(generated.NewExecutableSchema(gc))
	srv.AddTransport(transport.GET{})
	srv.AddTransport(transport.POST{})
	if cfg.MaxUploadBytes > 0 {
		// File uploads (imports): parts beyond MaxMemory spill to temporary
		// files, so a large upload does not sit in memory.
		srv.AddTransport(transport.MultipartForm{MaxUploadSize: cfg.MaxUploadBytes, MaxMemory: uploadMemory})
	}
	for _, t := range cfg.Transports {
		srv.AddTransport(t)
	}
	srv.SetQueryCache(lru.New[*ast.QueryDocument](queryCacheSize))
	srv.SetParserTokenLimit(parserTokenLimit)
	srv.SetDisableSuggestion(!cfg.Introspection)
	srv.SetErrorPresenter(presentError(cfg.Logger))
	srv.SetRecoverFunc(recoverPanic(cfg.Logger))
	if cfg.Introspection {
		srv.Use(extension.Introspection{})
	}
	srv.Use(depthLimit{max: cfg.DepthLimit})
	srv.Use(extension.FixedComplexityLimit(cfg.ComplexityLimit))
	if cfg.Observer != nil {
		srv.Use(observer{cfg.Observer})
	}
	srv.AroundOperations(func(ctx context.Context, next graphql.OperationHandler) graphql.ResponseHandler {
		if op := graphql.GetOperationContext(ctx).Operation; op != nil && op.Operation == ast.Subscription {
			// Each event gets its own loaders (below); an idle stream holds none.
			return next(ctx)
		}
		return next(WithLoaders(ctx, cfg.Service))
	})
	// A subscription lives for hours: each event it delivers resolves its
	// fields with fresh loaders, so no record cached for an earlier event is
	// served stale with a later one; the records are shared with the other
	// subscriptions answering at the same state of the log.
	snaps := newSnapshots(cfg.Service.FeedHead)
	srv.AroundResponses(func(ctx context.Context, next graphql.ResponseHandler) *graphql.Response {
		if graphql.HasOperationContext(ctx) {
			if op := graphql.GetOperationContext(ctx).Operation; op != nil && op.Operation == ast.Subscription {
				ctx = withSharedLoaders(ctx, cfg.Service, snaps)
			}
		}
		return next(ctx)
	})
	srv.AroundFields(r.authorizeField)
	return srv
}

// observer reports each answered operation, including those refused before
// execution (parse, validation and limit errors).
type observer struct{ o OperationObserver }

var (
	_ graphql.HandlerExtension    = observer{}
	_ graphql.ResponseInterceptor = observer{}
)

// ExtensionName implements graphql.HandlerExtension.
func (observer) ExtensionName() string { return "OperationObserver" }

// Validate implements graphql.HandlerExtension.
func (observer) Validate(graphql.ExecutableSchema) error { return nil }

// InterceptResponse implements graphql.ResponseInterceptor.
func (o observer) InterceptResponse(ctx context.Context, next graphql.ResponseHandler) *graphql.Response {
	resp := next(ctx)
	name, start := "anonymous", time.Now()
	if graphql.HasOperationContext(ctx) {
		oc := graphql.GetOperationContext(ctx)
		if oc.Operation != nil && oc.Operation.Operation == ast.Subscription {
			// Each event of a stream is a response; its latency from the
			// start of a subscription that lives for hours means nothing.
			// The WebSocket transport's own metrics cover streams.
			return resp
		}
		if !oc.Stats.OperationStart.IsZero() {
			start = oc.Stats.OperationStart
		}
		if oc.Operation != nil {
			name = operationLabel(oc.Operation)
		}
	}
	errs := 0
	if resp != nil {
		errs = len(resp.Errors)
	}
	o.o.ObserveOperation(name, time.Since(start), errs)
	return resp
}

// operationLabel names an operation by its type and root fields, so metrics
// are labelled by API operation whatever clients call their documents.
func operationLabel(op *ast.OperationDefinition) string {
	seen := map[string]bool{}
	var collect func(ast.SelectionSet)
	collect = func(set ast.SelectionSet) {
		for _, sel := range set {
			switch f := sel.(type) {
			case *ast.Field:
				if !strings.HasPrefix(f.Name, "__") {
					seen[f.Name] = true
				}
			case *ast.InlineFragment:
				collect(f.SelectionSet)
			case *ast.FragmentSpread:
				if f.Definition != nil {
					collect(f.Definition.SelectionSet)
				}
			}
		}
	}
	collect(op.SelectionSet)
	if len(seen) == 0 {
		return "anonymous"
	}
	fields := make([]string, 0, len(seen))
	for f := range seen {
		fields = append(fields, f)
	}
	sort.Strings(fields)
	return string(op.Operation) + " " + strings.Join(fields, "+")
}
