"""The LTSI dashboard: thin Streamlit views over the `ltsi` library (`streamlit run dashboard/app.py`)."""
