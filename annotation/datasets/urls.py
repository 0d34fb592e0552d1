from django.urls import path

from annotation.datasets import export_pages
from annotation.datasets import pages as dataset_pages

urlpatterns = [
    path("projects/<int:project_id>/import/", dataset_pages.import_page, name="dataset-import"),
    path("projects/<int:project_id>/export/", export_pages.export_page, name="dataset-export"),
    path("exports/<int:job_id>/", export_pages.export_job_page, name="export-job"),
    path("exports/<int:job_id>/files/<str:name>", export_pages.export_file, name="export-file"),
]
