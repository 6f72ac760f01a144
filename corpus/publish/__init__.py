"""Stage 6, publish: immutable dataset versions (`build`), their verification, diff and copies
(`release`), BIO token building (`tokens`) and article-group splits (`splits`)."""
