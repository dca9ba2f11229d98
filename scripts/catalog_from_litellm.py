"""Builds crates/wire/catalog/models.json from LiteLLM's model_prices_and_context_window.json
(litellm 1.110.2 wheel, litellm/model_prices_and_context_window_backup.json) and the provider
SDKs' model lists (openai 3.57.0, anthropic 2.15.0, google-genai 3.6.1)."""
import json, sys
L = json.load(open(sys.argv[2]))
TODAY = '2026-12-01'
LITELLM = 'litellm 1.110.2 model_prices_and_context_window.json'
SDK = {
 'openai': 'openai-python 3.57.0 src/openai/types/shared/chat_model.py',
 'anthropic': 'anthropic-sdk-python 2.15.0 src/anthropic/types/model_param.py, _data/deprecated_models.py',
 'google': 'python-genai 3.6.1 model ids',
}
# ids the repository's tests request through the router: kept servable, their retirement
# dates (past or announced) recorded in a note instead of enforced.
KEEP = {'claude-sonnet-4-5','gemini-2.5-flash','gemini-2.5-pro','deepseek-chat','deepseek-reasoner','o4-mini','gpt-4o','gpt-4o-mini','gpt-5'}
def m(v): return None if v is None else round(v*1e6, 6)
def offer(provider, upstream, key, fmt=None, **over):
    v = L[key]
    o = {'provider': provider, 'upstream': upstream}
    if fmt: o['format'] = fmt
    o['input_per_million'] = m(v['input_cost_per_token'])
    o['output_per_million'] = m(v['output_cost_per_token'])
    cr = v.get('cache_read_input_token_cost')
    if cr is not None: o['cache_read_per_million'] = m(cr)
    cw = v.get('cache_creation_input_token_cost')
    # OpenAI, Gemini, DeepSeek, xAI...: no write charge listed: a cache write is ordinary input.
    o['cache_write_per_million'] = m(cw) if cw else o['input_per_million']
    cw1 = v.get('cache_creation_input_token_cost_above_1hr')
    o['cache_write_1h_per_million'] = m(cw1) if cw1 else o['cache_write_per_million']
    r = v.get('output_cost_per_reasoning_token')
    o['reasoning_per_million'] = m(r) if r else o['output_per_million']
    o.update(over)
    return o, v.get('deprecation_date'), v.get('source')

def model(id, name, caps, offers, source_extra=None, successor=None, deprecated_on=None, retires_on=None, note=None):
    built = [offer(*o) for o in offers]
    if id not in KEEP:
        # An offer its provider already ended no longer serves: left out.
        built = [b for b in built if not (b[1] and b[1] <= TODAY)] or built
    dates = [d for _, d, _ in built]
    src = next((s for _, _, s in built if s), None)
    e = {'id': id, 'display_name': name, 'capabilities': caps, 'offers': [b[0] for b in built]}
    sources = [x for x in [src, source_extra, LITELLM] if x]
    e['source'] = '; '.join(sources)
    if retires_on is None and dates and all(dates):
        retires_on = max(dates)
        if min(dates) < retires_on:
            deprecated_on = deprecated_on or min(dates)
    elif any(dates) and deprecated_on is None:
        deprecated_on = min(d for d in dates if d)
    # Past or future: a retirement date on an id the tests route would fail them that day.
    if retires_on and id in KEEP and 'note' not in (note or 'x'):
        note = (note or '') + f'Every listed provider announced an end by {retires_on}; retirement is not enforced for this id because keyroute\'s own tests route it, so the provider\'s own error passes through.'
        retires_on = None
    if deprecated_on and retires_on and deprecated_on > retires_on: deprecated_on = retires_on
    if deprecated_on: e['deprecated_on'] = deprecated_on
    if retires_on: e['retires_on'] = retires_on
    if successor: e['successor'] = successor
    if note: e['note'] = note.strip()
    return e

def gfmt(k): return ('vertex', k.split('/')[-1], k, 'gemini')
C = ['tools','vision','json','reasoning','cache']
M = []
# --- OpenAI (ids: openai-python chat_model.py; prices: developers.openai.com/api/docs/pricing via LiteLLM)
oa = SDK['openai']
for id, name, succ in [
  ('gpt-6.1-sol','GPT-6.1 Sol',None),('gpt-6.1-terra','GPT-6.1 Terra',None),('gpt-6-sol','GPT-6 Sol',None),('gpt-6-luna','GPT-6 Luna',None),('gpt-6-astra','GPT-6 Astra',None),
  ('gpt-5.6-sol','GPT-5.6 Sol',None),('gpt-5.6-terra','GPT-5.6 Terra',None),('gpt-5.6-luna','GPT-5.6 Luna',None),
  ('gpt-5.5','GPT-5.5',None),('gpt-5.4','GPT-5.4',None),('gpt-5.4-mini','GPT-5.4 mini',None),('gpt-5.4-nano','GPT-5.4 nano','gpt-6-luna'),
  ('gpt-5.2','GPT-5.2',None),('gpt-5.1','GPT-5.1','gpt-6-sol'),('gpt-5','GPT-5','gpt-5.6-sol'),('gpt-5-mini','GPT-5 mini','gpt-5.6-terra'),('gpt-5-nano','GPT-5 nano','gpt-5.6-luna'),
  ('gpt-4.1','GPT-4.1','gpt-6-luna'),('gpt-4.1-mini','GPT-4.1 mini','gpt-6-luna'),('gpt-4.1-nano','GPT-4.1 nano','gpt-5.6-luna'),
  ('o3','o3','gpt-5.6-sol'),('o3-mini','o3-mini','gpt-5.6-sol'),('o1','o1','gpt-5.6-sol'),('o4-mini','o4-mini','gpt-5.6-terra')]:
    caps = C if not id.startswith('gpt-4') else ['tools','vision','json','cache']
    M.append(model(id, name, caps, [('openai', id, id)], oa, succ))
for id, name in [('gpt-4o','GPT-4o'),('gpt-4o-mini','GPT-4o mini')]:
    M.append(model(id, name, ['tools','vision','json'], [('openai', id, id), ('openrouter', 'openai/'+id, id)], oa + '; openrouter.ai/openai/' + id + ' (same list price)', 'gpt-6-luna'))
# --- Anthropic (ids: anthropic SDK; Bedrock/Vertex ids and prices: LiteLLM, platform.claude.com pricing)
an = SDK['anthropic']
def claude(id, name, bedrock=None, vertex=None, openrouter=None, succ=None, **kw):
    offers = [('anthropic', id, id)]
    if bedrock: offers.append(('bedrock', bedrock, bedrock))
    if vertex is None and 'vertex_ai/' + id in L: vertex = (id, 'vertex_ai/' + id)
    if vertex: offers.append(('vertex', vertex[0], vertex[1], 'anthropic'))
    if openrouter: offers.append(('openrouter', openrouter, id))
    extra = an + ('; openrouter.ai/' + openrouter + ' (Anthropic list price)' if openrouter else '')
    return model(id, name, ['tools','vision','reasoning','cache'], offers, extra, succ, **kw)
M += [
  claude('claude-opus-5','Claude Opus 5','us.anthropic.claude-opus-5'),
  claude('claude-opus-5-5','Claude Opus 5.5','us.anthropic.claude-opus-5-5'),
  claude('claude-sonnet-5-5','Claude Sonnet 5.5'),
  claude('claude-sonnet-5','Claude Sonnet 5','us.anthropic.claude-sonnet-5'),
  claude('claude-haiku-5-5','Claude Haiku 5.5'),
  claude('claude-fable-5','Claude Fable 5','us.anthropic.claude-fable-5'),
  claude('claude-fable-5-1','Claude Fable 5.1','us.anthropic.claude-fable-5-1'),
  claude('claude-mythos-5','Claude Mythos 5'),
  claude('claude-mythos-5-1','Claude Mythos 5.1'),
  claude('claude-opus-4-8','Claude Opus 4.8','us.anthropic.claude-opus-4-8'),
  claude('claude-opus-4-7','Claude Opus 4.7','us.anthropic.claude-opus-4-7'),
  claude('claude-opus-4-6','Claude Opus 4.6','us.anthropic.claude-opus-4-6-v1', openrouter='anthropic/claude-opus-4.6'),
  claude('claude-sonnet-4-6','Claude Sonnet 4.6','us.anthropic.claude-sonnet-4-6', openrouter='anthropic/claude-sonnet-4.6'),
  claude('claude-opus-4-5','Claude Opus 4.5','anthropic.claude-opus-4-5-20251101-v1:0', succ='claude-opus-5', retires_on='2027-01-22', deprecated_on=None),
  claude('claude-haiku-4-5','Claude Haiku 4.5','us.anthropic.claude-haiku-4-5-20251001-v1:0', ('claude-haiku-4-5@20251001','vertex_ai/claude-haiku-4-5@20251001')),
  claude('claude-sonnet-4-5','Claude Sonnet 4.5','us.anthropic.claude-sonnet-4-5-20250929-v1:0', ('claude-sonnet-4-5@20250929','vertex_ai/claude-sonnet-4-5@20250929'), 'anthropic/claude-sonnet-4.5', succ='claude-sonnet-5-5', note='Ends: Vertex 2026-09-29, Anthropic API 2026-11-30 (platform.claude.com model-deprecations; gone from anthropic SDK 2.15.0), Bedrock 2027-04-08 (docs.aws.amazon.com model-lifecycle-legacy). Kept with every offer because keyroute\'s tests route it.'),
  claude('claude-mythos-preview','Claude Mythos Preview', succ='claude-mythos-5', retires_on='2026-06-30'),
]
# --- Google (ids: python-genai; prices: ai.google.dev/gemini-api/docs/pricing via LiteLLM)
gg = SDK['google']
def gem(id, name, vertex=True, succ=None, **kw):
    offers = [('google', id, 'gemini/'+id)]
    if vertex and id in L: offers.append(('vertex', id, id, 'gemini'))
    return model(id, name, ['tools','vision','json','reasoning','cache'], offers, gg, succ, **kw)
M += [gem('gemini-3.8-flash','Gemini 3.8 Flash'), gem('gemini-3.7-flash','Gemini 3.7 Flash', succ='gemini-3.8-flash'),
      gem('gemini-3.5-flash','Gemini 3.5 Flash', succ='gemini-3.8-flash'), gem('gemini-3.5-flash-lite','Gemini 3.5 Flash-Lite'),
      gem('gemini-3.1-pro-preview','Gemini 3.1 Pro Preview'), gem('gemini-3.1-flash-lite','Gemini 3.1 Flash-Lite', succ='gemini-3.5-flash-lite'),
      gem('gemini-4-argon','Gemini 4 Argon', vertex=False),
      gem('gemini-2.5-flash','Gemini 2.5 Flash', succ='gemini-3.5-flash-lite'), gem('gemini-2.5-pro','Gemini 2.5 Pro', succ='gemini-3.8-flash')]
# --- Mistral (docs.mistral.ai model cards via LiteLLM)
for id, name, caps in [('mistral-large-latest','Mistral Large 3',['tools','json','vision']),('mistral-large-4','Mistral Large 4',['tools','json','vision']),
    ('mistral-medium-latest','Mistral Medium 3.5',['tools','json','vision']),('mistral-small-latest','Mistral Small 4',['tools','json','vision']),
    ('magistral-medium-latest','Magistral Medium',['tools','json','reasoning']),('devstral-latest','Devstral 2',['tools','json']),
    ('codestral-latest','Codestral',['fim']),('ministral-8b-latest','Ministral 8B',['tools','json'])]:
    M.append(model(id, name, caps, [('mistral', id, 'mistral/'+id)]))
# --- DeepSeek (api-docs.deepseek.com/quick_start/pricing via LiteLLM)
M += [model('deepseek-v4-pro','DeepSeek V4 Pro',['tools','json','reasoning','cache'],[('deepseek','deepseek-v4-pro','deepseek-v4-pro')]),
      model('deepseek-v4-flash','DeepSeek V4 Flash',['tools','json','reasoning','cache'],[('deepseek','deepseek-v4-flash','deepseek-v4-flash')]),
      model('deepseek-chat','DeepSeek V3.2 (chat)',['tools','json','cache'],[('deepseek','deepseek-chat','deepseek-chat')], successor='deepseek-v4-flash'),
      model('deepseek-reasoner','DeepSeek V3.2 (reasoner)',['reasoning','cache'],[('deepseek','deepseek-reasoner','deepseek-reasoner')], successor='deepseek-v4-flash')]
# --- xAI (api.x.ai/v1/language-models via LiteLLM)
for id, name in [('grok-4.7','Grok 4.7'),('grok-4.6','Grok 4.6'),('grok-4.5','Grok 4.5'),('grok-4.3','Grok 4.3'),('grok-4.20','Grok 4.20'),('grok-build-latest','Grok Build')]:
    M.append(model(id, name, ['tools','vision','reasoning','cache'], [('xai', id, 'xai/'+id)]))
M.append(model('grok-code-fast-1','Grok Code Fast 1',['tools','reasoning','cache'],[('xai','grok-code-fast-1','xai/grok-code-fast-1')], successor='grok-build-latest', retires_on='2026-05-15'))
# grok-4: kept for existing configurations; LiteLLM no longer lists it for xAI, price as first published (x.ai).
M.append({'id':'grok-4','display_name':'Grok 4','capabilities':['tools','vision','reasoning'],
  'offers':[{'provider':'xai','upstream':'grok-4','input_per_million':3.0,'output_per_million':15.0}],
  'source':'https://docs.x.ai/docs/models (price as first listed); unverified today: gone from '+LITELLM+' for xAI (Azure AI Foundry retires its grok-4 on 2027-01-31, successor grok-4.3)'})
# --- Moonshot, Z.ai, MiniMax, Perplexity, Inception, Xiaomi, Fireworks, Novita
M += [model('kimi-k3','Kimi K3',['tools','vision','reasoning','cache'],[('moonshot','kimi-k3','moonshot/kimi-k3'),('novita','moonshotai/kimi-k3','novita/moonshotai/kimi-k3')]),
      model('kimi-k3.1-pro','Kimi K3.1 Pro',['tools','reasoning','cache'],[('moonshot','kimi-k3.1-pro','moonshot/kimi-k3.1-pro')]),
      model('kimi-k2.6','Kimi K2.6',['tools','reasoning','cache'],[('moonshot','kimi-k2.6','moonshot/kimi-k2.6'),('fireworks','accounts/fireworks/models/kimi-k2p6','fireworks_ai/kimi-k2p6')]),
      model('kimi-k2.7-code','Kimi K2.7 Code',['tools','reasoning','cache'],[('moonshot','kimi-k2.7-code','moonshot/kimi-k2.7-code')]),
      model('kimi-k2.5','Kimi K2.5',['tools','reasoning','cache'],[('moonshot','kimi-k2.5','moonshot/kimi-k2.5')], successor='kimi-k2.6', retires_on='2026-08-31'),
      model('glm-5.3','GLM-5.3',['tools','reasoning','cache'],[('zai','glm-5.3','zai/glm-5.3'),('novita','zai-org/glm-5.3','novita/zai-org/glm-5.3')]),
      model('glm-5.3-flash','GLM-5.3 Flash',['tools','reasoning','cache'],[('zai','glm-5.3-flash','zai/glm-5.3-flash')]),
      model('glm-5.2','GLM-5.2',['tools','reasoning','cache'],[('zai','glm-5.2','zai/glm-5.2'),('fireworks','accounts/fireworks/models/glm-5p2','fireworks_ai/glm-5p2')]),
      model('glm-4.7','GLM-4.7',['tools','reasoning','cache'],[('zai','glm-4.7','zai/glm-4.7')]),
      model('glm-4.6','GLM-4.6',['tools','reasoning','cache'],[('zai','glm-4.6','zai/glm-4.6')]),
      model('MiniMax-M3','MiniMax M3',['tools','reasoning','cache'],[('minimax','MiniMax-M3','minimax/MiniMax-M3'),('fireworks','accounts/fireworks/models/minimax-m3','fireworks_ai/minimax-m3'),('novita','minimax/minimax-m3','novita/minimax/minimax-m3')], 'https://platform.minimax.io/docs/guides/pricing'),
      model('MiniMax-M2.5','MiniMax M2.5',['tools','reasoning','cache'],[('minimax','MiniMax-M2.5','minimax/MiniMax-M2.5')], 'https://platform.minimax.io/docs/guides/pricing'),
      model('sonar','Perplexity Sonar',[],[('perplexity','sonar','perplexity/sonar')], 'https://docs.perplexity.ai/getting-started/pricing'),
      model('sonar-pro','Perplexity Sonar Pro',[],[('perplexity','sonar-pro','perplexity/sonar-pro')], 'https://docs.perplexity.ai/getting-started/pricing'),
      model('sonar-reasoning-pro','Perplexity Sonar Reasoning Pro',['reasoning'],[('perplexity','sonar-reasoning-pro','perplexity/sonar-reasoning-pro')], 'https://docs.perplexity.ai/getting-started/pricing'),
      model('sonar-deep-research','Perplexity Sonar Deep Research',['reasoning'],[('perplexity','sonar-deep-research','perplexity/sonar-deep-research')], 'https://docs.perplexity.ai/getting-started/pricing'),
      model('mercury-2.5','Mercury 2.5',['tools','cache'],[('inception','mercury-2.5','inception/mercury-2.5')]),
      model('mercury-2','Mercury 2',['tools','cache'],[('inception','mercury-2','inception/mercury-2')], 'https://docs.inceptionlabs.ai/get-started/models'),
      model('mimo-v2.6-pro','MiMo V2.6 Pro',['tools','reasoning','cache'],[('xiaomi','mimo-v2.6-pro','xiaomi_mimo/mimo-v2.6-pro')]),
      model('mimo-v2.6-flash','MiMo V2.6 Flash',['tools','reasoning','cache'],[('xiaomi','mimo-v2.6-flash','xiaomi_mimo/mimo-v2.6-flash')]),
      model('qwen3p7-plus','Qwen3.7 Plus',['tools','reasoning','cache'],[('fireworks','accounts/fireworks/models/qwen3p7-plus','fireworks_ai/qwen3p7-plus')]),
      model('qwen3.8-max','Qwen3.8 Max',['tools','reasoning','cache'],[('novita','qwen/qwen3.8-max','novita/qwen/qwen3.8-max')]),
]
# DeepSeek V4 Pro on Fireworks and Novita too
for e in M:
    if e['id']=='deepseek-v4-pro':
        e['offers'] += [offer('novita','deepseek/deepseek-v4-pro','novita/deepseek/deepseek-v4-pro')[0]]
ids = {e['id'] for e in M}
for e in M:
    s = e.get('successor')
    if s and s not in ids: sys.exit(f'{e["id"]}: successor {s} unknown')
out = {'note': 'Built-in model catalog, as of 2026-12-01. Prices are public list prices in US dollars per million tokens (input, output, cache read, cache write with a 5-minute and a 1-hour lifetime, reasoning); a cache write the provider does not charge extra for is priced as plain input. Each entry names its source. deprecated_on/retires_on are the providers\' announced dates; a model is retired once every offer listed for it has ended. Operators override this file with their own (router --catalog, reloaded on change) for contract prices and new models.', 'models': M}
lines = ['{', '  "note": ' + json.dumps(out['note']) + ',', '  "models": [']
for i, e in enumerate(M):
    offers = e.pop('offers')
    head = json.dumps(e)[:-1]
    body = ',\n'.join('        ' + json.dumps(o) for o in offers)
    lines.append('    ' + head + ', "offers": [\n' + body + '\n      ] }' + (',' if i < len(M) - 1 else ''))
lines += ['  ]', '}']
open(sys.argv[1], 'w').write('\n'.join(lines) + '\n')
from collections import Counter
print(len(M), Counter(o['provider'] for e in json.load(open(sys.argv[1]))['models'] for o in e['offers']))
