# Persona-MCP server image (web, worker and beat all run from it; see docker-compose.yml).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 PERSONAMCP_VAR_DIR=/data
WORKDIR /app

RUN apt-get update && apt-get install -y --no-install-recommends libpq5 \
    && rm -rf /var/lib/apt/lists/*
COPY requirements.txt .
# CPU build of PyTorch (the default wheel on PyPI is the multi-GB CUDA build).
RUN pip install --no-cache-dir torch==2.13.0 --index-url https://download.pytorch.org/whl/cpu \
    && pip install --no-cache-dir -r requirements.txt
COPY . .
RUN useradd --create-home --uid 1000 persona && mkdir -p /data && chown persona /data \
    && python manage.py collectstatic --noinput
USER persona
VOLUME /data
EXPOSE 8000
CMD ["sh", "-c", "python manage.py migrate --noinput && python manage.py seed_demo && daphne -b 0.0.0.0 -p 8000 personamcp.asgi:application"]
