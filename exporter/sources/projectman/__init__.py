"""The names of what the other sources watch: CodeArts projects (ProjectMan) and repositories (Repo)."""
