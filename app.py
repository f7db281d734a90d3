"""Dial-In Studio: the entry file routes to the pages; each page reads state, calls the core, renders."""

import streamlit as st

st.set_page_config(page_title="Dial-In Studio", layout="wide")
navigation = st.navigation([st.Page("pages/home.py", title="Home", default=True)])
navigation.run()
