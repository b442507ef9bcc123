from django.shortcuts import render

from pdp.context_processors import nav_items_for


def home(request):
    return render(request, "pdp/home.html", {"sections": nav_items_for(request.user)})
