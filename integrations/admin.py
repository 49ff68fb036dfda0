from django.contrib import admin

from integrations.models import InboundPayload


@admin.register(InboundPayload)
class InboundPayloadAdmin(admin.ModelAdmin):
    list_display = ("source", "received_at", "status")
    list_filter = ("source", "status")
