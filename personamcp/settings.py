"""Django settings for Persona-MCP.

One module, configured by environment variables (see the table in README.md). With nothing set
the server runs in the embedded mode: SQLite under ``var/``, in-memory channel layer, local
memory cache and background jobs in-process. ``DATABASE_URL`` and ``REDIS_URL`` switch to the
scaled mode (PostgreSQL + pgvector, Redis for channels, cache and Celery).
"""

from __future__ import annotations

import os
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

from personamcp.env import (
    env_bool,
    env_choice,
    env_float,
    env_int,
    env_list,
    env_str,
    env_url,
)

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(env_str("PERSONAMCP_VAR_DIR") or BASE_DIR / "var")
VAR_DIR.mkdir(parents=True, exist_ok=True)

DEBUG = env_bool("DEBUG", False)
DEV_MODE = env_bool("PERSONAMCP_DEV_MODE", False)


def _secret_key() -> str:
    key = env_str("SECRET_KEY")
    if key:
        return key
    if not (DEBUG or DEV_MODE):
        # A per-installation key kept under var/, so sessions survive restarts without making
        # the operator invent one; production deployments set SECRET_KEY explicitly.
        key_file = VAR_DIR / "secret_key"
        if not key_file.exists():
            import secrets

            key_file.write_text(secrets.token_urlsafe(50))
            key_file.chmod(0o600)
        return key_file.read_text().strip()
    return "dev-insecure-key-only-for-local-development"


SECRET_KEY = _secret_key()
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["127.0.0.1", "localhost", "[::1]", "testserver"])
# Browser origins allowed to open /mcp. Clients without an Origin header are always accepted.
ALLOWED_ORIGINS = env_list("PERSONAMCP_ALLOWED_ORIGINS", [])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    "daphne",
    "dashboard.apps.PersonaAdminConfig",  # Django's admin with the Persona-MCP site
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "channels",
    "personamcp",
    "llm",
    "personas",
    "memory",
    "conversations",
    "rooms",
    "worlds",
    "bots",
    "openai_compat",
    "lore",
    "goals",
    "dashboard",
    "audit",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "personamcp.logging.CorrelationIdMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "audit.middleware.AuditActorMiddleware",
    "personamcp.security.ContentSecurityPolicyMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "personamcp.urls"
ASGI_APPLICATION = "personamcp.asgi.application"
WSGI_APPLICATION = "personamcp.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "personamcp.security.csp_context",
            ],
        },
    },
]

# --- database -------------------------------------------------------------------------------
DATABASE_URL = env_url("DATABASE_URL", schemes=("postgres", "postgresql", "sqlite"))
# pgvector's HNSW search breadth (MEMORY["HNSW_EF_SEARCH"]), set on every PostgreSQL session.
HNSW_EF_SEARCH = env_int("MEMORY_HNSW_EF_SEARCH", 200, minimum=10)
if DATABASE_URL:
    try:
        _db = dj_database_url.parse(DATABASE_URL, conn_max_age=0)
    except ValueError as exc:
        raise ImproperlyConfigured(f"DATABASE_URL is not a valid database URL: {exc}") from None
    if _db["ENGINE"].endswith("postgresql"):
        _db.setdefault("OPTIONS", {})
        # Connections stay open between requests and RPC calls (one per worker thread at most,
        # checked before reuse), instead of a new PostgreSQL session for every call.
        _db["CONN_MAX_AGE"] = env_int("DATABASE_CONN_MAX_AGE", 300, minimum=0)
        _db["CONN_HEALTH_CHECKS"] = True
        # Or a psycopg_pool shared by the threads (then CONN_MAX_AGE is 0): DATABASE_POOL_MAX > 0.
        if pool_max := env_int("DATABASE_POOL_MAX", 0, minimum=0):
            _db["CONN_MAX_AGE"] = 0
            _db["OPTIONS"]["pool"] = {
                "min_size": env_int("DATABASE_POOL_MIN", 2, minimum=0),
                "max_size": pool_max,
                "timeout": env_float("DATABASE_POOL_TIMEOUT", 10.0, minimum=0.1),
            }
        # pgvector's HNSW settings for every session, so a search needs no SET round trip:
        # the search breadth, and iterative scans so a filtered search (one persona's memories
        # among millions) keeps walking the graph until enough rows pass the filter.
        _db["OPTIONS"]["options"] = (
            f"-c hnsw.ef_search={HNSW_EF_SEARCH} -c hnsw.iterative_scan=relaxed_order"
        )
        # One test database per test run, so that runs on one machine never collide.
        _db["TEST"] = {"NAME": f"test_{_db['NAME']}_{os.getpid()}"}
else:
    _db = {"ENGINE": "django.db.backends.sqlite3", "NAME": VAR_DIR / "personamcp.sqlite3"}

if _db["ENGINE"].endswith("sqlite3"):
    # Django's SQLite backend whose writers queue in-process (personamcp/db/sqlite3/base.py).
    _db["ENGINE"] = "personamcp.db.sqlite3"
    _db["OPTIONS"] = {
        # Seconds a connection waits for another process's write lock; this process's own
        # writers queue for it in-process first (up to 60 s or this, whichever is longer).
        "timeout": env_float("PERSONAMCP_SQLITE_TIMEOUT", 20.0, minimum=0.1),
        "transaction_mode": "IMMEDIATE",
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
    # A file (not :memory:) so that end-to-end tests can share it with a server process.
    _db["TEST"] = {"NAME": str(VAR_DIR / f"test_{os.getpid()}.sqlite3")}
DATABASES = {"default": _db}
IS_POSTGRES = _db["ENGINE"].endswith("postgresql")
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- redis: channel layer, cache, celery ----------------------------------------------------
REDIS_URL = env_url("REDIS_URL", schemes=("redis", "rediss", "unix"))
if REDIS_URL:
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            # redis-py's default socket_timeout equals channels_redis' blocking read and kills
            # consumers under load; no timeout on the socket, the layer has its own.
            "CONFIG": {
                "hosts": [{"address": REDIS_URL, "socket_timeout": None}],
                "prefix": env_str("PERSONAMCP_CHANNEL_PREFIX", "personamcp"),
                "capacity": 1000,
            },
        }
    }
    CACHES = {
        "default": {
            "BACKEND": "personamcp.cache.RedisCache",  # one connection pool per process
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": env_str("PERSONAMCP_CACHE_PREFIX", "personamcp"),
            # A bounded pool: a thread that finds every connection busy waits for one (up to
            # 30 s) instead of opening another, so the process's Redis sockets stay at most
            # PERSONAMCP_REDIS_CONNECTIONS however many threads (workers, turns) call at once.
            "OPTIONS": {
                "pool_class": "redis.BlockingConnectionPool",
                "max_connections": env_int("PERSONAMCP_REDIS_CONNECTIONS", 20, minimum=2),
                "timeout": 30,
            },
        }
    }
else:
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

CELERY_BROKER_URL = REDIS_URL or "memory://"
CELERY_RESULT_BACKEND = REDIS_URL or "cache+memory://"
# Embedded mode: no worker; personamcp.jobs runs tasks on an in-process thread pool.
CELERY_TASK_ALWAYS_EAGER = not REDIS_URL
# The server never waits for a background task's result. With results on, every `delay` also
# subscribed the sending thread to the result's channel (one Redis pub/sub socket per thread
# and one subscription per task, never read). A task whose result is read says so.
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_ACKS_LATE = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_TIME_LIMIT = 600
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True

# --- auth, static, i18n ---------------------------------------------------------------------
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
]
LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True
STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "static"
SERVE_STATIC = env_bool("PERSONAMCP_SERVE_STATIC", True)
STATICFILES_DIRS = [BASE_DIR / "static"] if (BASE_DIR / "static").exists() else []
MEDIA_URL = "media/"
MEDIA_ROOT = Path(env_str("PERSONAMCP_MEDIA_ROOT") or VAR_DIR / "media")
DATA_UPLOAD_MAX_MEMORY_SIZE = 5 * 1024 * 1024
FILE_UPLOAD_MAX_MEMORY_SIZE = 5 * 1024 * 1024

# --- REST API -------------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "personamcp.auth.ApiKeyAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["personamcp.auth.ScopedApiKeyPermission"],
    "DEFAULT_SCHEMA_CLASS": "personamcp.api.PersonaAutoSchema",
    "EXCEPTION_HANDLER": "personamcp.api.exception_handler",
    "UNAUTHENTICATED_USER": None,
    # ``?format=`` belongs to the API's own parameters (card export), never to DRF's renderer
    # selection; clients choose a representation with the Accept header.
    "URL_FORMAT_OVERRIDE": None,
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Persona-MCP API",
    "DESCRIPTION": "Management REST API of Persona-MCP (parity with the /mcp JSON-RPC methods).",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "COMPONENT_SPLIT_REQUEST": True,
    # pydantic's schemas are JSON Schema 2020-12: the document is OpenAPI 3.1.
    "OAS_VERSION": "3.1.0",
    "AUTHENTICATION_WHITELIST": ["personamcp.auth.ApiKeyAuthentication"],
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "personamcp.api.postprocess_errors_and_security",
    ],
    # Swagger UI and ReDoc from the app's own static files (drf-spectacular-sidecar): offline.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
}

# --- Persona-MCP ----------------------------------------------------------------------------
PERSONAMCP = {
    "VERSION": "1.0.0",
    "PROTOCOL_VERSION": "1",
    # Largest WebSocket message / POST /mcp body (PROTOCOL.md v1.1: 16 MiB); larger: -32600.
    "MAX_FRAME_BYTES": env_int("PERSONAMCP_MAX_FRAME_BYTES", 16 * 1024 * 1024, minimum=1024),
    "MAX_BATCH": env_int("PERSONAMCP_MAX_BATCH", 50, minimum=1),
    "MAX_MESSAGE_CHARS": env_int("PERSONAMCP_MAX_MESSAGE_CHARS", 8000, minimum=1),
    # Threads per server process for sync calls (database work, LLM turns); of them, LLM turns
    # (conversation.send_message, room.send and room.step) hold at most TURN_THREADS at once
    # (0: three quarters), so that reads never wait behind the turns in flight.
    "WORKER_THREADS": env_int("PERSONAMCP_WORKER_THREADS", 64, minimum=4),
    "TURN_THREADS": env_int("PERSONAMCP_TURN_THREADS", 0, minimum=0),
    # Requests per minute per API key (or per client address when anonymous in dev mode).
    "RATE_LIMIT_PER_MINUTE": env_int("PERSONAMCP_RATE_LIMIT", 6000, minimum=1),
    # LLM turns running at once per API key (conversation.send_message, room.send/step);
    # over it: -32029 with data.reason "concurrent_turns". 0: no limit.
    "MAX_TURNS_PER_KEY": env_int("PERSONAMCP_MAX_TURNS_PER_KEY", 8, minimum=0),
    # WebSockets without a key: at most this many open per client address (per process), and
    # closed (4401) when not authenticated within AUTH_TIMEOUT seconds. Not in dev mode.
    "MAX_UNAUTHENTICATED_PER_ADDRESS": env_int("PERSONAMCP_MAX_UNAUTH_PER_ADDRESS", 16, minimum=1),
    "AUTH_TIMEOUT": env_float("PERSONAMCP_AUTH_TIMEOUT", 30.0, minimum=0.1),
    # Embedded mode: background jobs (after-turn work) queued or running in process at most;
    # beyond, the committing thread waits for a slot (back-pressure; see personamcp/jobs.py),
    # and the threads that run them.
    "MAX_PENDING_JOBS": env_int("PERSONAMCP_MAX_PENDING_JOBS", 256, minimum=1),
    "JOB_THREADS": env_int("PERSONAMCP_JOB_THREADS", 2, minimum=1),
    # Server processes hand glibc's free memory back every this many seconds (0: never).
    "MALLOC_TRIM_SECONDS": env_float("PERSONAMCP_MALLOC_TRIM_SECONDS", 30.0, minimum=0.0),
    # ... and send blocks of this many bytes or more to mmap, a fixed threshold (0: glibc's own).
    "MALLOC_MMAP_THRESHOLD": env_int("PERSONAMCP_MALLOC_MMAP_THRESHOLD", 131072, minimum=0),
}

# LLM backends
LLM_PROVIDER = env_choice("LLM_PROVIDER", ("offline", "ollama", "openai"), "offline")
LLM_MODEL = env_str("LLM_MODEL")
OLLAMA_URL = env_url("OLLAMA_URL", schemes=("http", "https")) or "http://127.0.0.1:11434"
OPENAI_BASE_URL = env_url("OPENAI_BASE_URL", schemes=("http", "https"))
OPENAI_API_KEY = env_str("OPENAI_API_KEY")
LLM_TIMEOUT = env_float("LLM_TIMEOUT", 60.0, minimum=0.1)
LLM_CONNECT_TIMEOUT = env_float("LLM_CONNECT_TIMEOUT", 5.0, minimum=0.1)
if LLM_PROVIDER == "openai" and not OPENAI_BASE_URL:
    raise ImproperlyConfigured(
        "LLM_PROVIDER=openai needs OPENAI_BASE_URL (e.g. http://127.0.0.1:8080/v1)"
    )

# Embeddings
EMBEDDING_MODEL = env_str("EMBEDDING_MODEL")  # '' = the packaged all-MiniLM-L6-v2
EMBEDDING_DIMENSIONS = 384
# Where the ONNX export of the model is kept (made once, on first use or by prepare_embeddings).
EMBEDDING_CACHE_DIR = Path(env_str("EMBEDDING_CACHE_DIR") or VAR_DIR / "models")
EMBEDDING_BACKEND = env_choice("EMBEDDING_BACKEND", ("auto", "onnx", "torch"), "auto")

# --- conversations ---
CONVERSATION_PROMPT_BUDGET = env_int("CONVERSATION_PROMPT_BUDGET", 3000, minimum=256)  # tokens
CONVERSATION_MEMORY_LIMIT = env_int("CONVERSATION_MEMORY_LIMIT", 6, minimum=0)
CONVERSATION_HISTORY_LIMIT = env_int("CONVERSATION_HISTORY_LIMIT", 40, minimum=0)
LLM_MAX_TOKENS = env_int("LLM_MAX_TOKENS", 0, minimum=0)  # 0: the backend's default
MOOD_APPRAISAL = env_choice("MOOD_APPRAISAL", ("lexicon", "llm"), "lexicon")
MOOD_HALF_LIFE_HOURS = env_float("MOOD_HALF_LIFE_HOURS", 6.0, minimum=0.01)
MOOD_SENSITIVITY = env_float("MOOD_SENSITIVITY", 0.35, minimum=0.0)
MOOD_DECAY_INTERVAL = env_float("MOOD_DECAY_INTERVAL", 900.0, minimum=10.0)  # seconds
# Actions offered with a message: the backend's tool calling, or the <actions> JSON block
LLM_TOOLS = env_choice("LLM_TOOLS", ("native", "json"), "native")
# Trigger intents: sentence embeddings against example phrases, or the LLM
TRIGGER_INTENT = env_choice("TRIGGER_INTENT", ("embedding", "llm"), "embedding")
TRIGGER_INTENT_THRESHOLD = env_float("TRIGGER_INTENT_THRESHOLD", 0.45, minimum=0.0)

# --- rooms ---
ROOM_TRANSCRIPT_LINES = env_int("ROOM_TRANSCRIPT_LINES", 20, minimum=0)  # lines in the context
ROOM_MAX_MEMBERS = env_int("ROOM_MAX_MEMBERS", 12, minimum=1)
ROOM_MAX_STEP_TURNS = env_int("ROOM_MAX_STEP_TURNS", 20, minimum=1)
ROOM_HEARING_RADIUS = env_float("ROOM_HEARING_RADIUS", 10.0, minimum=0.01)  # spatial default
# Game worlds (worlds/): how many recent events a turn's prompt shows, from how far back.
WORLD_EVENT_PROMPT_LIMIT = env_int("WORLD_EVENT_PROMPT_LIMIT", 5, minimum=0)
WORLD_EVENT_PROMPT_HOURS = env_float("WORLD_EVENT_PROMPT_HOURS", 24.0, minimum=0.01)

# --- logging --------------------------------------------------------------------------------
LOG_LEVEL = env_choice("LOG_LEVEL", ("debug", "info", "warning", "error"), "info").upper()
# plain: one readable line per record; json: one JSON object per line (correlation and trace ids)
LOG_FORMAT = env_choice("LOG_FORMAT", ("plain", "json"), "plain")
LOG_FILE = env_str("LOG_FILE")  # also write records to this file (reopened after rotation)
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"correlation": {"()": "personamcp.logging.CorrelationIdFilter"}},
    "formatters": {
        "plain": {
            "format": "%(asctime)s %(levelname)s %(name)s [%(correlation_id)s] %(message)s",
        },
        "json": {"()": "personamcp.logging.JsonFormatter"},
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": LOG_FORMAT,
            "filters": ["correlation"],
        },
        **(
            {
                "file": {
                    "class": "logging.handlers.WatchedFileHandler",
                    "filename": LOG_FILE,
                    "formatter": LOG_FORMAT,
                    "filters": ["correlation"],
                }
            }
            if LOG_FILE
            else {}
        ),
    },
    "root": {"handlers": ["console", *(["file"] if LOG_FILE else [])], "level": LOG_LEVEL},
    "loggers": {
        "django.db.backends": {"level": "INFO"},
        "daphne": {"level": "WARNING"},
        "httpx": {"level": "WARNING"},
        "httpx2": {"level": "WARNING"},
        "httpcore": {"level": "WARNING"},
        "asyncio": {"level": "WARNING"},
    },
}


# --- bots ---
BOTS = {
    # Seconds between a bot process's heartbeats, and silence after which it counts as crashed.
    "HEARTBEAT_INTERVAL": env_float("PERSONAMCP_BOT_HEARTBEAT", 5.0, minimum=0.1),
    "HEARTBEAT_TIMEOUT": env_float("PERSONAMCP_BOT_HEARTBEAT_TIMEOUT", 30.0, minimum=0.5),
    "START_TIMEOUT": env_float("PERSONAMCP_BOT_START_TIMEOUT", 90.0, minimum=1.0),
    "STOP_TIMEOUT": env_float("PERSONAMCP_BOT_STOP_TIMEOUT", 10.0, minimum=0.1),
    "SUPERVISE_INTERVAL": env_float("PERSONAMCP_BOT_SUPERVISE_INTERVAL", 15.0, minimum=0.5),
    # Restart backoff: BASE * 2**(crashes-1) seconds, at most MAX; give up after MAX_CRASHES
    # crashes within CRASH_WINDOW seconds.
    "BACKOFF_BASE": env_float("PERSONAMCP_BOT_BACKOFF_BASE", 5.0, minimum=0.0),
    "BACKOFF_MAX": env_float("PERSONAMCP_BOT_BACKOFF_MAX", 300.0, minimum=0.0),
    "MAX_CRASHES": env_int("PERSONAMCP_BOT_MAX_CRASHES", 5, minimum=1),
    "CRASH_WINDOW": env_float("PERSONAMCP_BOT_CRASH_WINDOW", 600.0, minimum=1.0),
    # Replies per room per minute (loop guard) and the longest single Matrix message.
    "ROOM_RATE_PER_MINUTE": env_int("PERSONAMCP_BOT_ROOM_RATE", 20, minimum=1),
    "MAX_MESSAGE_CHARS": env_int("PERSONAMCP_BOT_MAX_MESSAGE_CHARS", 4000, minimum=100),
    # Celery queue of the bot tasks: run a worker consuming it on the host that runs the bots.
    "QUEUE": env_str("PERSONAMCP_BOT_QUEUE", "celery"),
}

# --- memory ---
MEMORY = {
    # Retrieval: score = relevance*w + recency*w + importance*w (each term in 0..1).
    "WEIGHTS": {
        "relevance": env_float("MEMORY_W_RELEVANCE", 1.0, minimum=0.0),
        "recency": env_float("MEMORY_W_RECENCY", 0.5, minimum=0.0),
        "importance": env_float("MEMORY_W_IMPORTANCE", 0.5, minimum=0.0),
    },
    "RECENCY_DECAY": env_float("MEMORY_RECENCY_DECAY", 0.995, minimum=0.5),  # per hour
    "CANDIDATE_FACTOR": env_int("MEMORY_CANDIDATE_FACTOR", 4, minimum=1),
    "MAX_CONTENT_CHARS": env_int("MEMORY_MAX_CONTENT_CHARS", 4000, minimum=100),
    "MAX_SEARCH_LIMIT": 100,
    # PostgreSQL: HNSW search breadth (higher = better recall, slower). recall@10 at 100k at
    # 200 on the benchmark's near-duplicates: 0.984 with the index's ef_construction 200
    # (migration memory 0003), 0.960 with 64; 0.994 on real-shaped vectors (bench/README.md).
    "HNSW_EF_SEARCH": HNSW_EF_SEARCH,
    # SQLite: in-process index. Exact search below ANN_MIN vectors, a faiss HNSW graph above
    # (M links per node, build and search breadth). On the benchmark's near-duplicate vectors
    # at 100k (bench/memory_search.py), recall@10 was 0.81 with efConstruction 64 / efSearch
    # 64 and 0.985 with 200 / 256 (0.999 with efSearch 512); see docs/memory.md.
    "ANN_MIN": env_int("MEMORY_ANN_MIN", 10000, minimum=1000),
    "ANN_M": env_int("MEMORY_ANN_M", 32, minimum=4),
    "ANN_EF_CONSTRUCTION": env_int("MEMORY_ANN_EF_CONSTRUCTION", 200, minimum=8),
    "ANN_EF_SEARCH": env_int("MEMORY_ANN_EF_SEARCH", 256, minimum=10),
    # Save built graphs under VAR_DIR/memory-index so a restart does not rebuild them.
    "ANN_SAVE": env_bool("MEMORY_ANN_SAVE", True),
    "CACHE_MAX_VECTORS": env_int("MEMORY_CACHE_MAX_VECTORS", 2_000_000, minimum=1000),
    # A search's access-count/time update is batched and written this long after (0 = at once).
    "ACCESS_FLUSH_SECONDS": env_float("MEMORY_ACCESS_FLUSH_SECONDS", 1.0, minimum=0.0),
    # Facts: a new fact about the same subject this similar to an older one supersedes it.
    "SUPERSEDE_SIMILARITY": env_float("MEMORY_SUPERSEDE_SIMILARITY", 0.8, minimum=0.0),
    # Reflection: queued when the importance stored since the last reflection passes this.
    "REFLECTION_THRESHOLD": env_float("MEMORY_REFLECTION_THRESHOLD", 5.0, minimum=0.1),
    "REFLECTION_SOURCES": env_int("MEMORY_REFLECTION_SOURCES", 20, minimum=2),
    "REFLECTION_MAX_INSIGHTS": env_int("MEMORY_REFLECTION_MAX_INSIGHTS", 3, minimum=1),
    # Decay: memories not accessed for DECAY_AFTER_DAYS lose DECAY_RATE of their importance per
    # run; never below DECAY_MIN, never those at or above PROTECT_IMPORTANCE.
    "DECAY_EVERY": env_float("MEMORY_DECAY_EVERY", 3600.0, minimum=1.0),
    "DECAY_AFTER_DAYS": env_float("MEMORY_DECAY_AFTER_DAYS", 7.0, minimum=0.0),
    "DECAY_RATE": env_float("MEMORY_DECAY_RATE", 0.05, minimum=0.0),
    "DECAY_MIN": env_float("MEMORY_DECAY_MIN", 0.05, minimum=0.0),
    "PROTECT_IMPORTANCE": env_float("MEMORY_PROTECT_IMPORTANCE", 0.8, minimum=0.0),
    # Pruning: beyond MAX_PER_PERSONA memories, the least valuable unprotected ones go, except
    # those accessed within PROTECT_RECENT_DAYS.
    "PRUNE_EVERY": env_float("MEMORY_PRUNE_EVERY", 6 * 3600.0, minimum=1.0),
    "MAX_PER_PERSONA": env_int("MEMORY_MAX_PER_PERSONA", 200_000, minimum=10),
    "PROTECT_RECENT_DAYS": env_float("MEMORY_PROTECT_RECENT_DAYS", 2.0, minimum=0.0),
    "EMBED_BATCH": env_int("MEMORY_EMBED_BATCH", 64, minimum=1),
}

# --- periodic tasks -----------------------------------------------------------------------
# The one declaration of periodic work: Celery beat runs it in scaled mode, and the embedded
# mode's in-process scheduler (``personamcp.jobs.start_embedded_scheduler``) runs the same
# entries (``schedule`` in seconds; ``options.queue`` only matters to Celery).
CELERY_BEAT_SCHEDULE = {
    "memory-decay": {"task": "memory.decay", "schedule": MEMORY["DECAY_EVERY"]},
    "memory-prune": {"task": "memory.prune", "schedule": MEMORY["PRUNE_EVERY"]},
    "conversations.mood_decay": {
        "task": "conversations.mood_decay",
        "schedule": MOOD_DECAY_INTERVAL,
    },
    "conversations.after_turn_recover": {
        "task": "conversations.after_turn_recover",
        "schedule": 60.0,
    },
    "bots.supervise": {
        "task": "bots.bot_supervise",
        "schedule": BOTS["SUPERVISE_INTERVAL"],
        # Bot tasks go to the queue of the workers that own bot processes.
        "options": {"queue": BOTS["QUEUE"]},
    },
}


# --- security (docs/security.md) ------------------------------------------------------------
# PERSONAMCP_PRODUCTION=1: the server is reached over HTTPS (directly or behind a TLS proxy);
# `manage.py check --deploy` is then clean. Off by default: the embedded mode runs on plain
# http://127.0.0.1 where secure-only cookies would make the admin unusable.
PRODUCTION = env_bool("PERSONAMCP_PRODUCTION", False)
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_SAMESITE = "Lax"
# Extra origins the pages may connect to (e.g. wss://persona.example.org when /mcp is served
# under another name); 'self' always is.
CSP_CONNECT_SRC = env_list("PERSONAMCP_CSP_CONNECT_SRC", [])
if env_bool("PERSONAMCP_TRUST_X_FORWARDED_PROTO", False):
    # Only behind a proxy that sets (and overwrites) X-Forwarded-Proto itself: anyone else
    # could claim https with it.
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
if PRODUCTION:
    if DEBUG:
        raise ImproperlyConfigured("PERSONAMCP_PRODUCTION=1 cannot run with DEBUG=1")
    SECURE_SSL_REDIRECT = env_bool("PERSONAMCP_SSL_REDIRECT", True)
    # /healthz and /readyz answer plain HTTP probes from inside the network.
    SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$", r"^metrics$"]
    SECURE_HSTS_SECONDS = env_int("PERSONAMCP_HSTS_SECONDS", 31_536_000, minimum=0)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("PERSONAMCP_HSTS_INCLUDE_SUBDOMAINS", True)
    SECURE_HSTS_PRELOAD = env_bool("PERSONAMCP_HSTS_PRELOAD", False)
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    LANGUAGE_COOKIE_SECURE = True
    if not SECURE_HSTS_PRELOAD:
        # Submitting a domain to the browsers' preload list is its owner's decision (hard to
        # undo); PERSONAMCP_HSTS_PRELOAD=1 opts in and the check applies again.
        SILENCED_SYSTEM_CHECKS = ["security.W021"]
