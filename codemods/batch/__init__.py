"""`codemods batch`: many repositories, one branch and one pull request each."""
