"""Registry: the municipality's back-office data (resident register, tax assessments, facilities).

It is what makes once-only possible: forms are prefilled from it and certificates are issued from
it. ``csv_formats`` parses and validates the CSV files a municipality imports (the demo's fictional registries
are written by ``madoguchi.demo``, outside the runtime areas).
"""
