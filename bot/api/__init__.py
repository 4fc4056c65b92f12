"""The APIs other apps call, as a channel (EASEL_API=on; every call needs an API key,
bot/state/keys.py): the OpenAI Images API (openai_routes.py and its openai_* modules), the
MCP server (mcp_server.py, mcp_tools.py) and the A1111-compatible API, over the shared
tool calls (tool_calls.py).

Each request is a user's (`key:NAME`) and passes what a chat turn passes: the gate's
checkpoints, the fair queue and quotas, the engine router, provenance and the store,
through the image tools (tools/).
"""
