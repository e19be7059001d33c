"""REST views of goals and triggers: the same operations as the goal.* / trigger.* methods."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.response import Response
from rest_framework.views import APIView

from goals import operations
from goals.schemas import (
    DeletedOut,
    GoalCompleteParams,
    GoalListOut,
    GoalListParams,
    GoalOut,
    GoalSetParams,
    TriggerCreateParams,
    TriggerListOut,
    TriggerListParams,
    TriggerOut,
)
from personamcp.api import parse, parse_query
from personas.api import resolve_persona


def _resolver(request):
    return lambda ref: resolve_persona(request, ref)


class TriggerListView(APIView):
    @extend_schema(
        parameters=[
            OpenApiParameter("persona_id", str),
            OpenApiParameter("limit", int),
            OpenApiParameter("cursor", str),
        ],
        responses=TriggerListOut,
    )
    def get(self, request):
        """List triggers (same as ``trigger.list``)."""
        params = parse_query(request, TriggerListParams)
        return Response(operations.trigger_list(_resolver(request), request.principal, params))

    @extend_schema(request=TriggerCreateParams, responses={201: TriggerOut})
    def post(self, request):
        """Create a trigger (same as ``trigger.create``)."""
        params = parse(request, TriggerCreateParams)
        return Response(operations.trigger_create(_resolver(request), params), status=201)


class TriggerDetailView(APIView):
    @extend_schema(responses=TriggerOut)
    def get(self, request, trigger_id: str):
        """One trigger."""
        return Response(TriggerOut.dump(operations.trigger_get(request.principal, trigger_id)))

    @extend_schema(responses=DeletedOut)
    def delete(self, request, trigger_id: str):
        """Delete a trigger (same as ``trigger.delete``)."""
        return Response(operations.trigger_delete(request.principal, trigger_id))


class GoalListView(APIView):
    @extend_schema(
        parameters=[
            OpenApiParameter("persona_id", str, required=True),
            OpenApiParameter("status", str),
            OpenApiParameter("limit", int),
            OpenApiParameter("cursor", str),
        ],
        responses=GoalListOut,
    )
    def get(self, request):
        """A persona's goals (same as ``goal.list``)."""
        params = parse_query(request, GoalListParams)
        return Response(operations.goal_list(_resolver(request), params))

    @extend_schema(request=GoalSetParams, responses=GoalOut)
    def post(self, request):
        """Add or change a goal (same as ``goal.set``)."""
        params = parse(request, GoalSetParams)
        return Response(operations.goal_set(_resolver(request), params))


class GoalCompleteView(APIView):
    @extend_schema(request=GoalCompleteParams, responses=GoalOut)
    def post(self, request):
        """Mark a goal completed or failed (same as ``goal.complete``)."""
        params = parse(request, GoalCompleteParams)
        return Response(operations.goal_complete(_resolver(request), params))
